package deployment

import (
	"bytes"
	"debug/elf"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

// image is what the tests learn from one Dockerfile.
type image struct {
	// builder is the stage that compiles; builderBase its FROM image.
	builder     instructions.Stage
	builderBase string
	// buildCmd is the shell command of the RUN that runs go build, and
	// buildOut the path it writes the binary to.
	buildCmd string
	buildOut string
	// final is the stage that ships.
	final instructions.Stage
}

// images maps each Dockerfile to the command it must build.
var images = map[string]string{
	"Dockerfile.producer": "./cmd/producer",
	"Dockerfile.consumer": "./cmd/consumer",
}

// parseDockerfile parses a Dockerfile with BuildKit's own parser and fails on
// any warning its parser or linter reports.
func parseDockerfile(t *testing.T, name string) []instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: %s", name, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, _, msg string, loc []parser.Range) {
		t.Errorf("%s:%v: %s: %s", name, loc, rule, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return stages
}

// inspect parses a Dockerfile and checks the shape every image here shares:
// a builder stage that downloads modules before it copies the source and
// builds pkg, and a final stage that runs the built binary as a non-root
// user.
func inspect(t *testing.T, name, pkg string) image {
	t.Helper()
	stages := parseDockerfile(t, name)
	if len(stages) < 2 {
		t.Fatalf("%s: %d stage(s), want a builder and a final stage", name, len(stages))
	}
	var im image
	im.final = stages[len(stages)-1]

	// The final stage copies one file from the builder and runs it.
	var entrypoint *instructions.EntrypointCommand
	var user *instructions.UserCommand
	var fromBuilder *instructions.CopyCommand
	for _, c := range im.final.Commands {
		switch c := c.(type) {
		case *instructions.EntrypointCommand:
			entrypoint = c
		case *instructions.UserCommand:
			user = c
		case *instructions.CopyCommand:
			if c.From != "" {
				fromBuilder = c
			}
		}
	}
	if user == nil {
		t.Errorf("%s: final stage has no USER: it would run as root", name)
	} else if u, _, _ := strings.Cut(user.User, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("%s: final stage runs as %q, want a non-root user", name, user.User)
	}
	if fromBuilder == nil || len(fromBuilder.SourcePaths) != 1 {
		t.Fatalf("%s: final stage copies no single binary from a builder stage", name)
	}
	i := slices.IndexFunc(stages, func(s instructions.Stage) bool { return s.Name == fromBuilder.From })
	if i < 0 {
		t.Fatalf("%s: COPY --from=%s names no stage", name, fromBuilder.From)
	}
	im.builder = stages[i]
	im.builderBase = im.builder.BaseName
	if entrypoint == nil || entrypoint.PrependShell || len(entrypoint.CmdLine) == 0 {
		t.Fatalf("%s: want an exec-form ENTRYPOINT [\"/binary\"]: there is no shell in the final image", name)
	}
	if entrypoint.CmdLine[0] != fromBuilder.DestPath {
		t.Errorf("%s: ENTRYPOINT runs %s, but the binary is copied to %s", name, entrypoint.CmdLine[0], fromBuilder.DestPath)
	}

	// The builder: go.mod and go.sum, go mod download, the source, go build.
	step := map[string]int{}
	for n, c := range im.builder.Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			src := c.SourcePaths
			if slices.Contains(src, "go.mod") && slices.Contains(src, "go.sum") {
				step["copy go.mod"] = n + 1
			}
			if slices.Contains(src, ".") {
				step["copy source"] = n + 1
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "go mod download") {
				step["go mod download"] = n + 1
				// Only what the binary is built from: go.mod also
				// lists the tests' modules (DuckDB's native
				// libraries among them).
				if want := "< " + path.Join(strings.TrimPrefix(pkg, "./"), "modules.txt"); !strings.Contains(line, want) {
					t.Errorf("%s: %q downloads more than the binary's modules (want it to read %s)", name, line, want)
				}
			}
			if strings.Contains(line, "go build") {
				step["go build"] = n + 1
				if !c.PrependShell {
					t.Fatalf("%s: write the go build RUN in shell form", name)
				}
				im.buildCmd = line
			}
		}
	}
	order := []string{"copy go.mod", "go mod download", "copy source", "go build"}
	for k, s := range order {
		if step[s] == 0 {
			t.Fatalf("%s: builder stage has no %s step", name, s)
		}
		if k > 0 && step[order[k-1]] > step[s] {
			// Downloading after the source copy would download again on
			// every source change.
			t.Errorf("%s: %s comes after %s", name, order[k-1], s)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(im.buildCmd, want) {
			t.Errorf("%s: build command %q lacks %s", name, im.buildCmd, want)
		}
	}
	m := regexp.MustCompile(`\s-o\s+(\S+)\s+(\S+)$`).FindStringSubmatch(im.buildCmd)
	if m == nil {
		t.Fatalf("%s: build command %q does not end in -o <binary> <package>", name, im.buildCmd)
	}
	im.buildOut = m[1]
	if m[2] != pkg {
		t.Errorf("%s builds %s, want %s", name, m[2], pkg)
	}
	if src := fromBuilder.SourcePaths[0]; src != im.buildOut {
		t.Errorf("%s: final stage copies %s, but go build writes %s", name, src, im.buildOut)
	}
	return im
}

// TestModuleLists: each binary's modules.txt, which its Dockerfile
// downloads, lists exactly the modules the binary is built from.
func TestModuleLists(t *testing.T) {
	for _, pkg := range []string{"./cmd/producer", "./cmd/consumer"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}", pkg)
		cmd.Dir = repoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		want := slices.Sorted(maps.Keys(set(strings.Fields(string(out)))))
		b, err := os.ReadFile(filepath.Join(repoRoot(t), pkg, "modules.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(b)); !slices.Equal(got, want) {
			t.Errorf("%s/modules.txt is stale; run go generate %s\n got %v\nwant %v", pkg, pkg, got, want)
		}
	}
}

func set(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// TestDockerfiles checks each Dockerfile's stages, then runs its build
// command here and checks the binary would run on a base image with no C
// library.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", goMod, nil)
	if err != nil || mf.Go == nil {
		t.Fatalf("go.mod: no go directive (%v)", err)
	}
	goMinor := regexp.MustCompile(`^\d+\.\d+`).FindString(mf.Go.Version)

	for name, pkg := range images {
		t.Run(name, func(t *testing.T) {
			im := inspect(t, name, pkg)
			// golang:1.26 or golang:1.26-bookworm: the go directive's
			// release, so a build in the image uses the Go the module
			// was written for.
			m := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+\.\d+)(?:\.\d+)?(?:-[a-z0-9.]+)?$`).FindStringSubmatch(im.builderBase)
			if m == nil {
				t.Fatalf("builder image %q, want golang:<major>.<minor>[-variant]", im.builderBase)
			}
			if m[1] != goMinor {
				t.Errorf("builder image %s has Go %s, go.mod says go %s", im.builderBase, m[1], mf.Go.Version)
			}
			if testing.Short() {
				t.Skip("builds the binary")
			}
			bin := buildLikeDockerfile(t, im, t.TempDir())
			checkStatic(t, bin)
		})
	}
}

// checkStatic checks that bin runs on an image with no C library: a static
// ELF with no interpreter and no shared libraries, stripped as -ldflags="-s
// -w" asks.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is dynamically linked", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", bin, libs, err)
	}
	for _, s := range []string{".symtab", ".debug_info"} {
		if f.Section(s) != nil {
			t.Errorf("%s has a %s section: not stripped", bin, s)
		}
	}
}

// buildLikeDockerfile runs the builder stage's go build command on this
// machine, in a copy of the build context that .dockerignore lets through,
// writing the binary to outDir instead of the image's path. It returns the
// binary's path.
func buildLikeDockerfile(t *testing.T, im image, outDir string) string {
	t.Helper()
	ctxDir := buildContext(t)
	out := filepath.Join(outDir, filepath.Base(im.buildOut))
	cmdLine := strings.Replace(im.buildCmd, " -o "+im.buildOut+" ", " -o "+out+" ", 1)
	cmd := exec.Command("sh", "-c", cmdLine)
	cmd.Dir = ctxDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s in the build context: %v\n%s", cmdLine, err, b)
	}
	// -trimpath: no path of the machine that built it.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(ctxDir)) {
		t.Errorf("%s contains the build directory %s: built without -trimpath", out, ctxDir)
	}
	return out
}

// dockerignore reads the repository's .dockerignore as Docker does.
func dockerignore(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// buildContext copies to a temporary directory the files of the repository
// that Docker would send as the build context, and returns the directory.
func buildContext(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	pm := dockerignore(t)
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if excluded && !mayReinclude(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded || !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, filepath.FromSlash(rel)))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// mayReinclude reports whether a "!" pattern could bring back something
// under the excluded directory dir, so that the walk must go into it.
func mayReinclude(pm *patternmatcher.PatternMatcher, dir string) bool {
	for _, p := range pm.Patterns() {
		if !p.Exclusion() {
			continue
		}
		s := p.String()
		if strings.ContainsAny(s, "*?[") || strings.HasPrefix(s, dir+"/") {
			return true
		}
	}
	return false
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerignore checks that the build context keeps out what must not be
// in an image or slows every build (data, binaries, history, secrets) and
// keeps what go build needs.
func TestDockerignore(t *testing.T) {
	pm := dockerignore(t)
	for _, c := range []struct {
		path string
		sent bool
	}{
		{"data/output_data/network_id=1/minute_timestamp=2024-09-11_10-05-00/part-view_log-0.parquet", false},
		{"data/kafka/meta.properties", false},
		{"data/log_data/input_data/campaigns.csv", false},
		{"bin/producer", false},
		{".git/HEAD", false},
		{".env", false},
		{"go.mod", true},
		{"go.sum", true},
		{"cmd/producer/main.go", true},
		{"cmd/consumer/main.go", true},
		{"internal/config/config.go", true},
	} {
		excluded, err := pm.MatchesOrParentMatches(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if excluded == c.sent {
			t.Errorf("%s: sent to the build %v, want %v", c.path, !excluded, c.sent)
		}
	}
}
