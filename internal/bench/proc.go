package bench

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Bounds of the figures read from /proc, far above any real one, so that
// sums and products of them cannot overflow.
const (
	maxTicks = 1 << 50
	maxKB    = 1 << 40
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Memory is a process's resident memory, in bytes, from /proc/<pid>/status.
type Memory struct {
	// RSS is the resident set size now (VmRSS).
	RSS int64
	// HWM is the peak resident set size over the process's life (VmHWM).
	HWM int64
}

// parseStatus reads VmRSS and VmHWM from the text of /proc/<pid>/status.
func parseStatus(data []byte) (Memory, error) {
	var m Memory
	var haveRSS, haveHWM bool
	for _, line := range bytes.Split(data, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst, haveRSS = &m.RSS, true
		case "VmHWM":
			dst, haveHWM = &m.HWM, true
		default:
			continue
		}
		fields := bytes.Fields(value)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return Memory{}, fmt.Errorf("parse %s: want \"<n> kB\", got %q", name, bytes.TrimSpace(value))
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || kb < 0 || kb > maxKB {
			return Memory{}, fmt.Errorf("parse %s: %q is not a size in kB", name, fields[0])
		}
		*dst = kb * 1024
	}
	if !haveRSS || !haveHWM {
		return Memory{}, fmt.Errorf("parse status: VmRSS or VmHWM missing (is the process a zombie?)")
	}
	return m, nil
}

// parseStat returns the CPU time (user plus system) from the text of
// /proc/<pid>/stat.
func parseStat(data []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may itself hold
	// spaces and parentheses: the fields after it start past the last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, fmt.Errorf("parse stat: no command name in %q", truncate(data, 64))
	}
	// Fields from 3 (state) on; utime and stime are fields 14 and 15.
	fields := bytes.Fields(data[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return 0, fmt.Errorf("parse stat: %q is not a tick count", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// ReadMemory reads the resident memory of process pid from /proc.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	return parseStatus(data)
}

// readCPU reads the CPU time process pid has used.
func readCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu: %w", err)
	}
	return parseStat(data)
}

// sampler records the peak VmRSS of a process, read every interval.
type sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
	last Memory
	err  error
}

// startSampler samples process pid every interval until stopped. A pid of
// 0 (a server the bench does not see) samples nothing.
func startSampler(pid int, interval time.Duration) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	if pid == 0 {
		close(s.done)
		return s
	}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	m, err := ReadMemory(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.last = m
	s.peak = max(s.peak, m.RSS)
}

// finish stops sampling and returns the peak VmRSS seen and the last
// VmHWM read.
func (s *sampler) finish() (peak int64, last Memory, err error) {
	if s.pid != 0 {
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.last, s.err
}

// parseCPUTotals reads the machine-wide "cpu" line of /proc/stat and returns
// the busy and total ticks of all CPUs (idle and iowait are not busy).
func parseCPUTotals(data []byte) (busy, total int64, err error) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) < 5 || string(fields[0]) != "cpu" {
		return 0, 0, fmt.Errorf("parse /proc/stat: no cpu line first")
	}
	// user nice system idle iowait irq softirq steal; guest time is
	// already counted in user.
	for i, f := range fields[1:min(len(fields), 9)] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return 0, 0, fmt.Errorf("parse /proc/stat: %q is not a tick count", f)
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total, nil
}

// readCPUTotals reads the machine's busy and total CPU ticks.
func readCPUTotals() (busy, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read machine cpu: %w", err)
	}
	return parseCPUTotals(data)
}

// busySeconds is the CPU time the machine was busy, every core summed,
// over wall, from the busy and total ticks /proc/stat counted in it; 0
// when it counted none.
func busySeconds(busy, total int64, wall time.Duration) float64 {
	if total <= 0 {
		return 0
	}
	return float64(runtime.NumCPU()) * wall.Seconds() * float64(busy) / float64(total)
}

// readCommandCPU returns the CPU time used so far by every process whose
// command name is comm, such as the backends of a PostgreSQL server.
// Processes that have exited are not counted, so the difference of two
// readings undercounts short-lived ones.
func readCommandCPU(comm string) time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || string(bytes.TrimSpace(name)) != comm {
			continue
		}
		if d, err := readCPU(pid); err == nil {
			sum += d
		}
	}
	return sum
}
