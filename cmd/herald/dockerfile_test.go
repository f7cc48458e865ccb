package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herald-dev/herald/internal/buildinfo"
	"github.com/herald-dev/herald/internal/sqlite"
)

// repoRoot is the repository's root, where the Dockerfile builds from.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// dockerInstruction is one instruction of a Dockerfile, its continuation
// lines joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerStage is a stage of a Dockerfile: its FROM and its instructions.
type dockerStage struct {
	from   string
	instrs []dockerInstruction
}

// parseDockerfile splits the Dockerfile at path into stages, dropping
// comments and joining lines continued with a backslash.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, dockerStage{from: in.args})
			return
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return stages
}

// execForm decodes an instruction's JSON (exec form) arguments.
func execForm(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil || len(args) == 0 {
		t.Fatalf("Dockerfile: %s %s is not in exec form: %v", in.cmd, in.args, err)
	}
	return args
}

// only returns the stage's one instruction of kind cmd.
func (s dockerStage) only(t *testing.T, cmd string) dockerInstruction {
	t.Helper()
	var found []dockerInstruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: the stage FROM %s has %d %s instructions, want 1", s.from, len(found), cmd)
	}
	return found[0]
}

// dockerEnv is the environment of the stage's instructions: each ARG
// (with the value in args, else its default) and each ENV, in order.
func (s dockerStage) env(t *testing.T, args map[string]string) []string {
	t.Helper()
	var env []string
	for _, in := range s.instrs {
		switch in.cmd {
		case "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			if v, ok := args[name]; ok {
				def = v
			}
			env = append(env, name+"="+def)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %s: want KEY=value", in.args)
				}
				env = append(env, k+"="+strings.Trim(v, `"`))
			}
		}
	}
	return env
}

// buildOutput is where the Dockerfile's go build writes the binary.
const buildOutput = "/out/herald"

// TestDockerfileBuild runs the Dockerfile's go build command as it is
// written there (its environment, flags and build arguments; no container
// runtime is needed), then checks what the image would hold: a static,
// stripped binary built without local paths, whose version is the one the
// build arguments set, that serves with the image's CMD, answers /readyz,
// and whose healthcheck subcommand (the image's HEALTHCHECK) exits 0 while
// it runs and 1 once it has stopped. It is not parallel: its build, slow
// when not cached, runs before the parallel tests start.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is Linux's: its binary is checked as an ELF file")
	}
	root := repoRoot(t)
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and the image", len(stages))
	}
	builder, final := stages[0], stages[len(stages)-1]
	if !strings.Contains(builder.from, "golang:") {
		t.Fatalf("builder stage FROM %s, want golang", builder.from)
	}

	// The build command, without RUN's own options (--mount=...).
	var run []dockerInstruction
	for _, in := range builder.instrs {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			run = append(run, in)
		}
	}
	if len(run) != 1 {
		t.Fatalf("Dockerfile has %d RUN instructions with go build, want 1", len(run))
	}
	command := run[0].args
	for strings.HasPrefix(command, "--") {
		_, command, _ = strings.Cut(command, " ")
		command = strings.TrimSpace(command)
	}
	for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", " -o " + buildOutput + " ", "-s -w"} {
		if !strings.Contains(command, want) {
			t.Fatalf("go build command %q lacks %q", command, want)
		}
	}
	const (
		version = "v9.9.9-test"
		commit  = "0123456789abcdef0123456789abcdef01234567"
		date    = "2026-12-06T08:00:00Z"
	)
	bin := filepath.Join(t.TempDir(), "herald")
	env := append(os.Environ(), builder.env(t, map[string]string{
		"VERSION": version, "COMMIT": commit, "DATE": date, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
	})...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "sh", "-c", strings.Replace(command, " -o "+buildOutput+" ", " -o '"+bin+"' ", 1))
	build.Dir, build.Env = root, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}

	// Static (no interpreter, no dynamic section), stripped, no local paths.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has a %s program header: not static", p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Error("binary has a .dynamic or .interp section: not static")
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table: not stripped (-s)")
	}
	f.Close()
	if data, err := os.ReadFile(bin); err != nil {
		t.Fatal(err)
	} else if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
		t.Errorf("binary holds the path %s: not built with -trimpath", root)
	}

	// herald version prints what the build arguments set.
	want := buildinfo.Info{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if out, err := exec.Command(bin, "version").Output(); err != nil {
		t.Fatalf("version: %v", err)
	} else if got := strings.TrimSpace(string(out)); got != want.String() {
		t.Fatalf("version = %q, want %q", got, want.String())
	}
	var got buildinfo.Info
	if out, err := exec.Command(bin, "version", "--json").Output(); err != nil {
		t.Fatalf("version --json: %v", err)
	} else if err := json.Unmarshal(out, &got); err != nil || got != want {
		t.Fatalf("version --json = %s (%v), want %+v", out, err, want)
	}

	// The image: the binary where ENTRYPOINT runs it, a non-root user, the
	// data directory of CMD in a volume, the port of HERALD_ADDR exposed.
	entrypoint := execForm(t, final.only(t, "ENTRYPOINT"))
	if len(entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT = %q, want the binary alone", entrypoint)
	}
	if !slices.ContainsFunc(final.instrs, func(in dockerInstruction) bool {
		a := strings.Fields(in.args)
		return in.cmd == "COPY" && len(a) >= 2 && a[len(a)-2] == buildOutput && a[len(a)-1] == entrypoint[0]
	}) {
		t.Fatalf("no COPY of %s to the ENTRYPOINT %s", buildOutput, entrypoint[0])
	}
	if user := final.only(t, "USER").args; user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Fatalf("USER %q: want a non-root user", user)
	}
	cmdArgs := execForm(t, final.only(t, "CMD"))
	i := slices.Index(cmdArgs, "--data-dir")
	if cmdArgs[0] != "serve" || i < 0 || i+1 >= len(cmdArgs) {
		t.Fatalf("CMD = %q, want serve --data-dir <dir>", cmdArgs)
	}
	dataDir := cmdArgs[i+1]
	if v := final.only(t, "VOLUME").args; v != dataDir {
		t.Fatalf("VOLUME %s, want the data directory %s", v, dataDir)
	}
	imageEnv := final.env(t, nil)
	var addr string
	for _, kv := range imageEnv {
		if v, ok := strings.CutPrefix(kv, "HERALD_ADDR="); ok {
			addr = v
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("the image's HERALD_ADDR %q: %v", addr, err)
	}
	if expose := final.only(t, "EXPOSE").args; expose != port {
		t.Fatalf("EXPOSE %s, want the port of HERALD_ADDR, %s", expose, port)
	}
	health := final.only(t, "HEALTHCHECK").args
	_, healthCmd, ok := strings.Cut(health, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s has no CMD", health)
	}
	healthArgs := execForm(t, dockerInstruction{cmd: "HEALTHCHECK", args: healthCmd})
	if healthArgs[0] != entrypoint[0] || len(healthArgs) < 2 || healthArgs[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK CMD %q, want %s healthcheck", healthArgs, entrypoint[0])
	}

	// serve, as CMD runs it, on a loopback port and a temporary data
	// directory in place of the volume.
	data := t.TempDir()
	args := slices.Clone(cmdArgs)
	args[i+1] = data
	serve := exec.Command(bin, append(args, "--addr", "127.0.0.1:0")...)
	serve.Env = append(withoutHeraldEnv(os.Environ()), imageEnv...)
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	serve.Stderr = testWriter{t}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	listening := regexp.MustCompile(`^herald (\S+) listening on (http://\S+) `)
	urls := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var base string
	select {
	case m := <-urls:
		if m[1] != version {
			t.Errorf("serve prints version %s, want %s", m[1], version)
		}
		base = m[2]
	case <-time.After(time.Minute):
		t.Fatal("serve did not print where it listens")
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz = %d", resp.StatusCode)
	}
	if fi, err := os.Stat(filepath.Join(data, sqlite.FileName)); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %s, want 0600", sqlite.FileName, fi.Mode().Perm())
	}

	// The HEALTHCHECK, with the image's HERALD_ADDR on the port serve got.
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	healthcheck := func() *exec.Cmd {
		c := exec.Command(bin, healthArgs[1:]...)
		c.Env = append(withoutHeraldEnv(os.Environ()), append(imageEnv, "HERALD_ADDR=:"+u.Port())...)
		return c
	}
	if out, err := healthcheck().CombinedOutput(); err != nil {
		t.Fatalf("healthcheck while serving: %v\n%s", err, out)
	}
	if err := serve.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Fatalf("serve after an interrupt: %v", err)
	}
	var exitErr *exec.ExitError
	if out, err := healthcheck().CombinedOutput(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("healthcheck after serve stopped: %v, want exit status 1\n%s", err, out)
	}
}

// withoutHeraldEnv drops the HERALD_* variables of env, so that the test's
// own environment does not configure the server.
func withoutHeraldEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "HERALD_") })
}

// composeService is what TestComposeFile reads of a compose.yaml service.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// composeDefault replaces compose's ${VAR:-default} and ${VAR:?message}
// with what they are when VAR is unset (the default; "set" for the
// required ones).
var composeDefault = regexp.MustCompile(`\$\{[A-Z_]+(:-([^}]*)|:\?[^}]*)?\}`)

// TestComposeFile checks compose.yaml: it parses; the Herald services are
// built from this repository's Dockerfile and run real commands with real
// flags and HERALD_* variables; two or more nodes serve one PostgreSQL
// database, each with its own --node-id and port, after migrate has run.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	real := map[string]map[string]bool{} // command → its flags and variables
	for _, c := range docCommands {
		if c.name != "serve" && c.name != "migrate" {
			continue
		}
		_, flags, err := commandFlags(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		real[c.name] = map[string]bool{}
		for _, f := range flags {
			real[c.name]["--"+f.name] = true
			real[c.name][f.env] = true
		}
	}

	var nodes []string
	nodeIDs, hostPorts, databases := map[string]bool{}, map[string]bool{}, map[string]bool{}
	migrate := ""
	for name, s := range file.Services {
		if s.Build != "." {
			continue
		}
		if len(s.Command) == 0 || real[s.Command[0]] == nil {
			t.Errorf("%s: command %q, want serve or migrate", name, s.Command)
			continue
		}
		cmd := s.Command[0]
		for i, arg := range s.Command[1:] {
			if !strings.HasPrefix(arg, "-") {
				continue
			}
			flagName, _, _ := strings.Cut(arg, "=")
			if !strings.HasPrefix(flagName, "--") || !real[cmd][flagName] {
				t.Errorf("%s: %s has no flag %s", name, cmd, arg)
			}
			if flagName == "--node-id" && i+2 < len(s.Command) {
				nodeIDs[s.Command[i+2]] = true
			}
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, "HERALD_") && !real[cmd][k] {
				t.Errorf("%s: %s reads no variable %s", name, cmd, k)
			}
		}
		db := composeDefault.ReplaceAllString(s.Environment["HERALD_DATABASE_URL"], "$2")
		u, err := url.Parse(db)
		if err != nil || u.Scheme != "postgres" {
			t.Errorf("%s: HERALD_DATABASE_URL %q, want a postgres:// URL (%v)", name, db, err)
		} else if _, ok := file.Services[u.Hostname()]; !ok {
			t.Errorf("%s: the database host %s is not a service", name, u.Hostname())
		}
		databases[db] = true
		switch cmd {
		case "migrate":
			migrate = name
		case "serve":
			nodes = append(nodes, name)
			if len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":8080") {
				t.Errorf("%s: ports %q, want one mapped to the image's port 8080", name, s.Ports)
			} else {
				hostPorts[s.Ports[0]] = true
			}
		}
	}
	if len(nodes) < 2 || len(nodeIDs) != len(nodes) || len(hostPorts) != len(nodes) {
		t.Errorf("serve services %q with node ids %v and ports %v: want two or more, each with its own --node-id and port", nodes, nodeIDs, hostPorts)
	}
	if len(databases) != 1 {
		t.Errorf("the Herald services use the databases %v, want one", databases)
	}
	if migrate == "" {
		t.Fatal("no service runs migrate")
	}
	for _, n := range nodes {
		if c := file.Services[n].DependsOn[migrate].Condition; c != "service_completed_successfully" {
			t.Errorf("%s starts on %s's condition %q, want service_completed_successfully", n, migrate, c)
		}
	}
}
