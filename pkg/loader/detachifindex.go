package loader

import "fmt"

// DetachIfindex removes the one record of ifindex: the interface's
// attachment, detached as DetachAll does each, if the interface is here,
// or else the record alone, its interface gone. It is how the record of
// an interface deleted and made again under its name is forgotten, which
// Detach by that name cannot single out: the name finds the live one. It
// returns the record as it was (Attached: xdpfw ran there and was
// detached; else only the record went) and, as Detach, whether the pins
// went with the last record. An ifindex no record has is refused,
// changing nothing.
func (s *State) DetachIfindex(ifindex int) (rec Attachment, last bool, err error) {
	if s.old != nil {
		return Attachment{}, false, s.old
	}
	if err := s.finishReplacing(); err != nil {
		return Attachment{}, false, err
	}
	atts, err := s.Attachments()
	if err != nil {
		return Attachment{}, false, err
	}
	for _, a := range atts {
		if a.Ifindex != ifindex {
			continue
		}
		if err := s.unattach(a); err != nil {
			return a, false, err
		}
		last, err := s.RemoveIfUnused()
		return a, last, err
	}
	return Attachment{}, false, fmt.Errorf("no interface record has ifindex %d (xdpfw status lists them)", ifindex)
}
