package rules

// DropWarnings says what a drop policy cuts that an operator switching to
// it from the command line may not have meant: every IP frame when no
// rule passes anything (a remote session over the interfaces with it),
// or the replies to the host's own connections when no rule passes
// established flows. nftables and xdp-filter say nothing here; ufw asks.
// Warnings, not refusals: a router's drop policy wants neither rule, and a
// lockdown may be meant.
func (rs *Ruleset) DropWarnings() []string {
	if rs.Policy != Drop {
		return nil
	}
	passes, established := false, false
	for _, r := range rs.Rules {
		if r.Action != Pass {
			continue
		}
		passes = true
		// a rule of no condition passes the replies with the rest
		if r.Match.CTState&CTEstablished != 0 || r.Match.IsAny() {
			established = true
		}
	}
	switch {
	case !passes:
		return []string{"no rule passes anything: every IP frame is dropped (ARP, neighbour discovery and DHCP replies to this host aside), a remote session over these interfaces with it"}
	case !established:
		return []string{"no rule passes ct-state established: replies to this host's own connections (DNS, updates, outgoing SSH) are dropped; to let them in: xdpfw rule add --ct-state established,related --action pass --priority 0"}
	}
	return nil
}
