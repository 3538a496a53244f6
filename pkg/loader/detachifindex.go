package loader

import "fmt"

// DetachIfindex removes the one record of ifindex: the interface's
// attachment, detached as DetachAll does each, if the interface is here,
// or else the record alone, its interface gone. It is how the record of
// an interface deleted and made again under its name is forgotten, which
// Detach by that name cannot single out: the name finds the live one. It
// returns the name (the interface's, or the one its record keeps) and,
// as Detach, whether the pins went with the last record. An ifindex no
// record has is refused, changing nothing.
func (s *State) DetachIfindex(ifindex int) (name string, last bool, err error) {
	if s.old != nil {
		return "", false, s.old
	}
	atts, err := s.Attachments()
	if err != nil {
		return "", false, err
	}
	for _, a := range atts {
		if a.Ifindex != ifindex {
			continue
		}
		if err := s.unattach(a); err != nil {
			return a.Iface, false, err
		}
		last, err := s.RemoveIfUnused()
		return a.Iface, last, err
	}
	return "", false, fmt.Errorf("no interface record has ifindex %d (xdpfw status lists them)", ifindex)
}
