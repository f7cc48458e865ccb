package delivery

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/herald-dev/herald"
)

// TestGuardBlocked classifies addresses without dialing any of them.
func TestGuardBlocked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		blocked bool
		reason  string
	}{
		// Public addresses.
		{"8.8.8.8", false, ""},
		{"1.1.1.1", false, ""},
		{"93.184.216.34", false, ""},
		{"172.32.0.1", false, ""},
		{"100.128.0.1", false, ""},
		{"2606:4700:4700::1111", false, ""},
		{"2001:4860:4860::8888", false, ""},
		{"::ffff:8.8.8.8", false, ""},
		{"64:ff9b::808:808", false, ""},
		{"2002:808:808::1", false, ""},

		// Loopback.
		{"127.0.0.1", true, "loopback address"},
		{"127.255.255.254", true, "loopback address"},
		{"::1", true, "loopback address"},
		{"::ffff:127.0.0.1", true, "loopback address"},

		// Private.
		{"10.0.0.1", true, "private address"},
		{"10.255.255.255", true, "private address"},
		{"172.16.0.1", true, "private address"},
		{"172.31.255.255", true, "private address"},
		{"192.168.1.1", true, "private address"},
		{"fc00::1", true, "private address"},
		{"fd12:3456:789a::1", true, "private address"},
		{"::ffff:10.0.0.1", true, "private address"},
		{"::ffff:192.168.0.1", true, "private address"},
		{"fec0::1", true, "private address"},

		// Link-local.
		{"169.254.169.254", true, "link-local address"},
		{"fe80::1", true, "link-local address"},
		{"fe80::1%eth0", true, "link-local address"},
		{"::ffff:169.254.169.254", true, "link-local address"},

		// Multicast, unspecified, broadcast.
		{"224.0.0.1", true, "multicast address"},
		{"239.255.255.250", true, "multicast address"},
		{"ff02::1", true, "multicast address"},
		{"ff05::2", true, "multicast address"},
		{"0.0.0.0", true, "unspecified address"},
		{"0.1.2.3", true, "unspecified address"},
		{"::", true, "unspecified address"},
		{"255.255.255.255", true, "broadcast address"},

		// Cloud metadata services. Azure's WireServer is a public address
		// blocked by name; its neighbours stay public.
		{"168.63.129.16", true, "cloud metadata address"},
		{"::ffff:168.63.129.16", true, "cloud metadata address"},
		{"64:ff9b::a83f:8110", true, "cloud metadata address in NAT64 address"},
		{"2002:a83f:8110::1", true, "cloud metadata address in 6to4 address"},
		{"168.63.129.15", false, ""},
		{"168.63.129.17", false, ""},
		// The others fall in blocked ranges: Alibaba (CGNAT), Tencent
		// (link-local), Oracle (192.0.0.0/24), AWS and GCP over IPv6 (ULA).
		{"100.100.100.200", true, "carrier-grade NAT address"},
		{"64:ff9b::6464:64c8", true, "carrier-grade NAT address in NAT64 address"},
		{"169.254.0.23", true, "link-local address"},
		{"192.0.0.192", true, "reserved address"},
		{"fd00:ec2::254", true, "private address"},
		{"fd20:ce::254", true, "private address"},

		// Carrier-grade NAT and reserved ranges.
		{"100.64.0.1", true, "carrier-grade NAT address"},
		{"100.127.255.255", true, "carrier-grade NAT address"},
		{"192.0.0.170", true, "reserved address"},
		{"240.0.0.1", true, "reserved address"},
		{"198.18.0.1", true, "benchmarking address"},
		{"192.0.2.1", true, "documentation address"},
		{"2001:db8::1", true, "documentation address"},
		{"::10.0.0.1", true, "reserved address"},
		{"100::1", true, "reserved address"},

		// IPv4 embedded in IPv6.
		{"64:ff9b::7f00:1", true, "loopback address in NAT64 address"},
		{"64:ff9b::a00:1", true, "private address in NAT64 address"},
		{"64:ff9b:1::a9fe:a9fe", true, "link-local address in NAT64 address"},
		{"2002:a00:1::1", true, "private address in 6to4 address"},
		{"2002:7f00:1::", true, "loopback address in 6to4 address"},
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", true, "private address in Teredo address"},
	}
	g := &Guard{}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			if got := g.Blocked(ip); got != tt.blocked {
				t.Fatalf("Blocked(%s) = %v, want %v", tt.addr, got, tt.blocked)
			}
			if got := g.reason(ip); got != tt.reason {
				t.Fatalf("reason(%s) = %q, want %q", tt.addr, got, tt.reason)
			}
		})
	}
}

func TestGuardAllow(t *testing.T) {
	t.Parallel()
	allow := mustParseCIDRs(t, "127.0.0.0/8", "::1", "10.1.0.0/16", "fd00::/8")
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::ffff:127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"::ffff:10.1.2.3", false},
		{"fd00::1", false},
		{"64:ff9b::a01:203", false}, // NAT64 form of 10.1.2.3
		{"10.2.0.1", true},
		{"192.168.0.1", true},
		{"169.254.169.254", true},
		{"fc00::1", true},
		{"8.8.8.8", false},
	}
	g := &Guard{Allow: allow}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := g.Blocked(netip.MustParseAddr(tt.addr)); got != tt.blocked {
				t.Fatalf("Blocked(%s) = %v, want %v", tt.addr, got, tt.blocked)
			}
		})
	}
}

func TestGuardControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allow   []string
		address string
		want    string
	}{
		{"Private", nil, "10.0.0.1:80", "destination 10.0.0.1 is not allowed (private address)"},
		{"Loopback", nil, "127.0.0.1:8080", "destination 127.0.0.1 is not allowed (loopback address)"},
		{"LoopbackIPv6", nil, "[::1]:443", "destination ::1 is not allowed (loopback address)"},
		{"Metadata", nil, "169.254.169.254:80", "destination 169.254.169.254 is not allowed (link-local address)"},
		{"Mapped", nil, "[::ffff:10.0.0.1]:80", "destination ::ffff:10.0.0.1 is not allowed (private address)"},
		{"Unparseable", nil, "localhost:80", `destination localhost:80 is not allowed (unparseable address)`},
		{"Public", nil, "8.8.8.8:443", ""},
		{"Allowed", []string{"127.0.0.0/8"}, "127.0.0.1:8080", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := &Guard{Allow: mustParseCIDRs(t, tt.allow...)}
			err := g.Control("tcp4", tt.address, nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Control(%s) = %q, want %q", tt.address, got, tt.want)
			}
		})
	}
}

func TestGuardNil(t *testing.T) {
	t.Parallel()
	var g *Guard
	if !g.Blocked(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("nil Guard allowed loopback")
	}
	if g.Blocked(netip.MustParseAddr("8.8.8.8")) {
		t.Fatal("nil Guard blocked a public address")
	}
	if !g.Blocked(netip.Addr{}) {
		t.Fatal("invalid address not blocked")
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr string
	}{
		{"Prefix", []string{"127.0.0.0/8"}, []string{"127.0.0.0/8"}, ""},
		{"BareIPv4", []string{"10.0.0.5"}, []string{"10.0.0.5/32"}, ""},
		{"BareIPv6", []string{"::1"}, []string{"::1/128"}, ""},
		{"HostBitsCleared", []string{"192.168.1.7/24"}, []string{"192.168.1.0/24"}, ""},
		{"Mapped", []string{"::ffff:127.0.0.1"}, []string{"127.0.0.1/32"}, ""},
		{"MappedPrefix", []string{"::ffff:127.0.0.0/104"}, []string{"127.0.0.0/8"}, ""},
		{"Several", []string{"127.0.0.0/8", "::1/128"}, []string{"127.0.0.0/8", "::1/128"}, ""},
		{"CommaSeparated", []string{"127.0.0.0/8, ::1"}, []string{"127.0.0.0/8", "::1/128"}, ""},
		{"None", nil, nil, ""},
		{"ErrEmpty", []string{""}, nil, "empty destination"},
		{"ErrHostname", []string{"localhost"}, nil, `invalid destination "localhost"`},
		{"ErrBits", []string{"10.0.0.0/33"}, nil, `invalid destination "10.0.0.0/33"`},
		{"ErrZone", []string{"fe80::1%eth0"}, nil, `invalid destination "fe80::1%eth0"`},
		{"ErrShortMapped", []string{"::ffff:0:0/64"}, nil, "IPv4-mapped prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCIDRs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCIDRs(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if code := herald.ErrorCode(err); code != herald.EINVALID {
					t.Fatalf("error code = %q, want %q", code, herald.EINVALID)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCIDRs(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseCIDRs(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i].String() != tt.want[i] {
					t.Fatalf("ParseCIDRs(%q)[%d] = %s, want %s", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8", "::1", "10.0.0.0/33", "::ffff:1.2.3.4/120", "a,b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefixes, err := ParseCIDRs([]string{s})
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, p := range prefixes {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseCIDRs(%q) gave %v", s, p)
			}
		}
	})
}

func FuzzGuardBlocked(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add(netip.MustParseAddr("64:ff9b::a00:1").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		g := &Guard{}
		blocked := g.Blocked(ip)
		// The mapped and unmapped forms agree.
		if ip.Is4() && g.Blocked(netip.AddrFrom16(ip.As16())) != blocked {
			t.Fatalf("%s and its IPv4-mapped form disagree", ip)
		}
	})
}

// mustParseCIDRs parses allow-list values or fails the test.
func mustParseCIDRs(tb testing.TB, values ...string) []netip.Prefix {
	tb.Helper()
	prefixes, err := ParseCIDRs(values)
	if err != nil {
		tb.Fatal(err)
	}
	return prefixes
}
