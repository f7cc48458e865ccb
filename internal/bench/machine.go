package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Machine describes where the bench ran.
type Machine struct {
	CPUs        int    `json:"cpus"`
	Model       string `json:"cpu_model"`
	MemoryBytes int64  `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
}

// ReadMachine reads the machine's CPU count, CPU model and memory.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.Model = procField(data, "model name")
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(procField(data, "MemTotal")); len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				m.MemoryBytes = kb * 1024
			}
		}
	}
	return m
}

// procField returns the value of the first "name: value" line of data.
func procField(data []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Revision is the VCS revision the running binary was built from (with
// "+dirty" when the tree had changes), or "unknown".
func Revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev[:min(len(rev), 12)] + dirty
}

// Report is a bench run as printed: where and on what it ran, and the
// results.
type Report struct {
	Version  string   `json:"version"`
	Revision string   `json:"revision"`
	Command  string   `json:"command"`
	Machine  Machine  `json:"machine"`
	Results  []Result `json:"results"`
}
