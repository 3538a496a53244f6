package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/xdpfw/xdpfw/pkg/replay"
)

// jsonFrames prints replay --json's report with its frames written as
// Run decides them, element by element, and the rest of the report after
// them: the same bytes printJSON writes of the whole report, without
// holding every frame's result (ten times the capture's size) until the
// end. Nothing is written before the first frame, so a replay that read
// none prints only what went wrong.
type jsonFrames struct {
	out *bufio.Writer
	n   int
}

func newJSONFrames(out io.Writer) *jsonFrames {
	return &jsonFrames{out: bufio.NewWriter(out)}
}

// jsonHead is how printJSON begins a report: the frames list first (the
// first field of replay.Report), at two spaces an indent.
const jsonHead = "{\n  \"frames\": ["

// add is replay.Options.Each: f as the next element of the list.
func (j *jsonFrames) add(f replay.FrameResult) error {
	elem, err := json.MarshalIndent(f, "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if j.n == 0 {
		sep = jsonHead + "\n    "
	}
	j.n++
	j.out.WriteString(sep)
	_, err = j.out.Write(elem) // a write error stays, and Write says it
	return err
}

// finish closes the frames list and writes the rest of rep, whose Frames
// are empty, the frames having gone out.
func (j *jsonFrames) finish(rep *replay.Report) error {
	rest, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if len(rep.Frames) > 0 || !bytes.HasPrefix(rest, []byte(jsonHead+"]")) {
		return fmt.Errorf("replay --json: a report of frames held, not streamed") // a bug
	}
	rest = rest[len(jsonHead+"]"):]
	if j.n == 0 {
		j.out.WriteString(jsonHead + "]")
	} else {
		j.out.WriteString("\n  ]")
	}
	j.out.Write(rest)
	j.out.WriteString("\n")
	return j.out.Flush()
}
