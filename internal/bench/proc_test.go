package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	const full = "Name:\therald\nState:\tS (sleeping)\nVmPeak:\t 1263720 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n"
	tests := []struct {
		name    string
		in      string
		want    Memory
		wantErr string
	}{
		{"OK", full, Memory{RSS: 40 << 20, HWM: 50 << 20}, ""},
		{"ErrMissingHWM", "VmRSS:\t 1 kB\n", Memory{}, "VmRSS or VmHWM missing"},
		{"ErrEmpty", "", Memory{}, "missing"},
		{"ErrUnit", "VmRSS:\t 1 MB\nVmHWM:\t 1 kB\n", Memory{}, `want "<n> kB"`},
		{"ErrNumber", "VmRSS:\t x kB\nVmHWM:\t 1 kB\n", Memory{}, "is not a size"},
		{"ErrNegative", "VmRSS:\t -1 kB\nVmHWM:\t 1 kB\n", Memory{}, "is not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatus([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStatus = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks.
	const rest = " S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200 18446744073709551615"
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{"OK", "1234 (herald)" + rest, 3 * time.Second, ""},
		{"OKCommandWithParens", "1234 (a) b (c)" + rest, 3 * time.Second, ""},
		{"ErrNoCommand", "1234 herald S 1", 0, "no command name"},
		{"ErrShort", "1234 (herald) S 1 2 3", 0, "fields after the command name"},
		{"ErrTicks", "1234 (herald) S 1 2 3 0 -1 4194560 100 0 0 0 x 50", 0, "is not a tick count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStat = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("VmHWM:\t 2 kB\nVmRSS:\t 1 kB\n"))
	f.Add([]byte("VmRSS: kB"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseStatus(data)
		if err == nil && (m.RSS < 0 || m.HWM < 0) {
			t.Fatalf("negative memory %+v from %q", m, data)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (x) S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseStat(data)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %s from %q", d, data)
		}
	})
}

// TestReadOwnProcess reads this test process's /proc files.
func TestReadOwnProcess(t *testing.T) {
	t.Parallel()
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory = %+v", m)
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	s := startSampler(os.Getpid(), time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	peak, last, err := s.finish()
	if err != nil || peak <= 0 || last.HWM <= 0 {
		t.Fatalf("sampler: peak %d last %+v err %v", peak, last, err)
	}
	if _, err := ReadMemory(-1); err == nil {
		t.Fatal("no error for a missing process")
	}
}

func TestParseCPUTotals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		busy, total int64
		wantErr     string
	}{
		{"OK", "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 1 2 3 4\n", 160, 1000, ""},
		{"OKShort", "cpu 1 1 1 1\n", 3, 4, ""},
		{"ErrNoCPULine", "intr 1 2\n", 0, 0, "no cpu line"},
		{"ErrTicks", "cpu 1 x 1 1\n", 0, 0, "is not a tick count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			busy, total, err := parseCPUTotals([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || busy != tt.busy || total != tt.total {
				t.Fatalf("parseCPUTotals = %d, %d, %v; want %d, %d", busy, total, err, tt.busy, tt.total)
			}
		})
	}
	if _, _, err := readCPUTotals(); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseCPUTotals(f *testing.F) {
	f.Add([]byte("cpu  100 5 50 800 40 3 2 0 0 0\n"))
	f.Add([]byte("cpu"))
	f.Fuzz(func(t *testing.T, data []byte) {
		busy, total, err := parseCPUTotals(data)
		if err == nil && (busy < 0 || busy > total) {
			t.Fatalf("busy %d of total %d from %q", busy, total, data)
		}
	})
}
