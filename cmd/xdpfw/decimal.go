package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// decimal is a flag's number in decimal digits only, min to max: the
// flag package reads 010 as octal 8 and 0x10 as 16, and a priority of
// 010 must not run before one of 9, capture --rule 010 follow rule 8,
// nor detach --ifindex 010 detach ifindex 8. Every number flag is one.
type decimal struct{ n, min, max uint64 }

func (d *decimal) Set(s string) error {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return errors.New("want a number in decimal digits")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < d.min || n > d.max {
		return fmt.Errorf("out of range (%d-%d)", d.min, d.max)
	}
	d.n = n
	return nil
}

// String is the default help shows: none for 0 (a flag left out).
func (d *decimal) String() string {
	if d.n == 0 {
		return ""
	}
	return strconv.FormatUint(d.n, 10)
}

// decimalValue is the number of the decimal flag name.
func decimalValue(c *cli.Context, name string) uint64 { return c.Generic(name).(*decimal).n }

// decimals are a repeatable flag's numbers, each read as decimal reads it.
type decimals struct {
	ns       []uint64
	min, max uint64
}

func (d *decimals) Set(s string) error {
	one := decimal{min: d.min, max: d.max}
	if err := one.Set(s); err != nil {
		return err
	}
	d.ns = append(d.ns, one.n)
	return nil
}

func (d *decimals) String() string { return "" }

// repeatable marks the flag as one given once per value (isSliceFlag).
func (d *decimals) repeatable() {}
