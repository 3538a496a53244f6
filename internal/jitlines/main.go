// Command jitlines attributes perf samples taken in a BPF program to the
// program's C source lines, where bpftool cannot (Debian's is built
// without libbfd, so it neither disassembles nor annotates the JIT).
//
// Programs that live only while a benchmark runs are caught as they
// load: jitlines watches for programs named -name, reads each one's JIT
// line table (the kernel's jited_line_info, the address each source line
// starts at) while it exists, and once -samples appears attributes every
// sample address in it to the line whose code holds it. To profile the
// end-to-end receiver (CPU 1):
//
//	go run ./internal/jitlines -name xdpfw -samples /tmp/s.txt &
//	go run ./bench/cmd/xdpfw-bench -parts end-to-end -out "" &
//	perf record -C 1 -F 5000 -o /tmp/p.data -- sleep 70
//	perf script -i /tmp/p.data -F ip,sym | awk '/_xdpfw$/ {print $1}' > /tmp/s.tmp
//	mv /tmp/s.tmp /tmp/s.txt
//
// A stall is charged to the instruction that waits, usually the first
// use of a load's result: a cache miss shows on the line after the read.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// line is where one source line's code starts in a JITed program.
type line struct {
	addr uint64
	src  string
}

// image is one loaded program's line table, sorted by address.
type image struct {
	lines []line
}

func (im image) contains(a uint64) bool {
	// the last line's code is short: a sample past it is another symbol
	return a >= im.lines[0].addr && a <= im.lines[len(im.lines)-1].addr+256
}

// at is the source line whose code holds address a.
func (im image) at(a uint64) string {
	i := sort.Search(len(im.lines), func(i int) bool { return im.lines[i].addr > a })
	return im.lines[max(i-1, 0)].src
}

func cmpAddr(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lineTable reads a program's JIT line table: the kernel lists a JITed
// address for each of its BTF line infos, in the same order.
func lineTable(id ebpf.ProgramID) (string, image, error) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "", image{}, err
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "", image{}, err
	}
	addrs, _ := info.JitedLineInfos()
	infos, err := info.LineInfos()
	if err != nil {
		return info.Name, image{}, err
	}
	var im image
	for i, li := range infos {
		if i < len(addrs) {
			src := fmt.Sprintf("%s:%d %s", li.Line.FileName(), li.Line.LineNumber(), strings.TrimSpace(li.Line.Line()))
			im.lines = append(im.lines, line{addrs[i], src})
		}
	}
	slices.SortFunc(im.lines, func(a, b line) int { return cmpAddr(a.addr, b.addr) })
	return info.Name, im, nil
}

// watch collects the line tables of the programs named name loaded
// until the file until exists.
func watch(name, until string) map[ebpf.ProgramID]image {
	seen := map[ebpf.ProgramID]image{}
	for {
		if _, err := os.Stat(until); err == nil {
			return seen
		}
		for id, err := ebpf.ProgramGetNextID(0); err == nil; id, err = ebpf.ProgramGetNextID(id) {
			if _, ok := seen[id]; ok {
				continue
			}
			if n, im, err := lineTable(id); err == nil && n == name && len(im.lines) > 0 {
				seen[id] = im
				log.Printf("program %d: %d lines", id, len(im.lines))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// attribute reads samples ("ADDR" or "COUNT ADDR" per line, hex
// addresses) and counts them per source line of the images.
func attribute(path string, images map[ebpf.ProgramID]image) (map[string]int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	out, total := map[string]int{}, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		n := 1
		if len(fs) == 2 {
			n, _ = strconv.Atoi(fs[0])
			fs = fs[1:]
		}
		if len(fs) != 1 {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(fs[0], "0x"), 16, 64)
		if err != nil {
			continue
		}
		for _, im := range images {
			if im.contains(a) {
				out[im.at(a)] += n
				total += n
				break
			}
		}
	}
	return out, total, sc.Err()
}

func main() {
	name := flag.String("name", "xdpfw", "the programs' name (as bpftool prog shows it)")
	samples := flag.String("samples", "", "the sample addresses, written once the profile is taken")
	top := flag.Int("top", 40, "the lines to print")
	flag.Parse()
	if *samples == "" {
		log.Fatal("-samples is required")
	}
	images := watch(*name, *samples)
	time.Sleep(time.Second) // the file's writer may still be closing it
	counts, total, err := attribute(*samples, images)
	if err != nil {
		log.Fatal(err)
	}
	srcs := slices.Collect(maps.Keys(counts))
	slices.SortFunc(srcs, func(a, b string) int { return counts[b] - counts[a] })
	fmt.Printf("%d samples in %d programs named %s\n", total, len(images), *name)
	for _, s := range srcs[:min(*top, len(srcs))] {
		fmt.Printf("%6d %5.1f%%  %s\n", counts[s], 100*float64(counts[s])/float64(max(total, 1)), s)
	}
}
