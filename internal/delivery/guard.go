package delivery

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/herald-dev/herald"
)

// Guard keeps deliveries away from addresses that are not on the public
// internet: loopback, private, link-local, multicast, unspecified, broadcast,
// carrier-grade NAT and reserved ranges, in IPv4 and IPv6 form, including IPv4
// addresses embedded in IPv6 (IPv4-mapped, NAT64, 6to4, Teredo), and the
// cloud metadata services those ranges leave out (Azure's 168.63.129.16).
// Addresses inside an Allow prefix are always permitted.
//
// The zero Guard blocks every such address. Its Control method is meant for
// net.Dialer.Control, so the check runs on the address actually dialed, after
// DNS resolution, which defeats DNS rebinding.
type Guard struct {
	// Allow lists prefixes that are permitted even though they would be
	// blocked, such as 127.0.0.0/8 for local development.
	Allow []netip.Prefix
}

// blockedRange is a range the guard refuses and the reason it gives.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedRanges complements the netip.Addr predicates (loopback, private,
// link-local, multicast, unspecified) with the special-purpose ranges they
// do not cover.
//
// Cloud metadata services: AWS, GCP, Azure (IMDS), Oracle, DigitalOcean and
// others answer on 169.254.169.254 (link-local); Tencent on 169.254.0.23
// (link-local); AWS's IPv6 endpoint fd00:ec2::254 and GCP's fd20:ce::254 are
// unique local addresses (private); Oracle's 192.0.0.192 is in 192.0.0.0/24;
// Alibaba's 100.100.100.200 is in 100.64.0.0/10. Only Azure's WireServer,
// 168.63.129.16, a public address, needs its own entry.
var blockedRanges = []blockedRange{
	{netip.MustParsePrefix("168.63.129.16/32"), "cloud metadata address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address"},
	{netip.MustParsePrefix("::/96"), "reserved address"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "reserved address"},
	{netip.MustParsePrefix("100::/64"), "reserved address"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "private address"},
}

// Prefixes of IPv6 ranges that carry an IPv4 address.
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalPrefix = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
	teredoPrefix     = netip.MustParsePrefix("2001::/32")
)

// Blocked reports whether deliveries must not connect to ip.
func (g *Guard) Blocked(ip netip.Addr) bool {
	return g.reason(ip) != ""
}

// Control refuses connections to blocked addresses. Its signature is that of
// net.Dialer.Control; address is the resolved "ip:port" being dialed.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &blockedError{address: address, reason: "unparseable address"}
	}
	if reason := g.reason(ap.Addr()); reason != "" {
		return &blockedError{address: ap.Addr().String(), reason: reason}
	}
	return nil
}

// blockedError is the error of a connection the Guard refused. Its text
// names the address, so it is for the server log only: an attempt records
// msgBlocked instead (see describe), because the user who set the URL would
// otherwise learn what an internal name resolves to.
type blockedError struct {
	address string // the refused IP address as dialed
	reason  string // the kind of address, such as "private address"
}

// Error implements the error interface.
func (e *blockedError) Error() string {
	return fmt.Sprintf("destination %s is not allowed (%s)", e.address, e.reason)
}

// reason returns why ip is blocked, or "" when it may be dialed.
func (g *Guard) reason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = ip.WithZone("").Unmap()
	if g.allowed(ip) {
		return ""
	}
	if reason := classify(ip); reason != "" {
		return reason
	}
	if v4, via, ok := embeddedIPv4(ip); ok {
		if g.allowed(v4) {
			return ""
		}
		if reason := classify(v4); reason != "" {
			return reason + " in " + via
		}
	}
	return ""
}

// allowed reports whether ip is inside an Allow prefix.
func (g *Guard) allowed(ip netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// classify returns the kind of non-public address ip is, or "".
func classify(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "unspecified address"
	case ip.IsLoopback():
		return "loopback address"
	case ip.IsPrivate():
		return "private address"
	case ip.IsLinkLocalUnicast():
		return "link-local address"
	case ip.IsMulticast():
		return "multicast address"
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// embeddedIPv4 extracts the IPv4 address an IPv6 translation or tunnelling
// address routes to, and names the mechanism.
func embeddedIPv4(ip netip.Addr) (netip.Addr, string, bool) {
	if !ip.Is6() {
		return netip.Addr{}, "", false
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip), nat64LocalPrefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64 address", true
	case sixToFourPrefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4 address", true
	case teredoPrefix.Contains(ip):
		// The Teredo client address is stored inverted in the last 32 bits.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), "Teredo address", true
	}
	return netip.Addr{}, "", false
}

// ParseCIDRs parses the values of --allow-destination: CIDR prefixes such as
// "127.0.0.0/8" or bare addresses, which stand for themselves alone (/32 or
// /128). A value may hold several, separated by commas. Host bits are cleared.
func ParseCIDRs(values []string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, value := range values {
		for _, s := range strings.Split(value, ",") {
			s = strings.TrimSpace(s)
			p, err := parseCIDR(s)
			if err != nil {
				return nil, err
			}
			prefixes = append(prefixes, p)
		}
	}
	return prefixes, nil
}

// parseCIDR parses one prefix or bare address.
func parseCIDR(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, herald.Errorf(herald.EINVALID, "empty destination: want an IP address or CIDR prefix such as 127.0.0.0/8")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, herald.Errorf(herald.EINVALID, "invalid destination %q: want an IP address or CIDR prefix such as 127.0.0.0/8", s)
		}
		if p.Addr().Is4In6() {
			// Normalize ::ffff:a.b.c.d/n to its IPv4 form, as the guard
			// compares unmapped addresses.
			if p.Bits() < 96 {
				return netip.Prefix{}, herald.Errorf(herald.EINVALID, "invalid destination %q: an IPv4-mapped prefix needs at least 96 bits", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, herald.Errorf(herald.EINVALID, "invalid destination %q: want an IP address or CIDR prefix such as 127.0.0.0/8", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
