package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/herald-dev/herald/internal/buildinfo"
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

// Revision is the commit the running binary was built from, as `herald
// version` prints it (12 characters, "+dirty" when the tree had changes),
// or "unknown".
func Revision() string { return buildinfo.Read().ShortCommit() }

// Report is a bench run as printed: where and on what it ran, and the
// results.
type Report struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	// Built is when the binary was built (RFC 3339), as `herald version`
	// prints it; empty when unknown.
	Built   string   `json:"built"`
	Command string   `json:"command"`
	Machine Machine  `json:"machine"`
	Results []Result `json:"results"`
}
