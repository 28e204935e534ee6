package deployment

import (
	"bufio"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/viewlog/viewlog/internal/config"
)

// Service names, as the original's README uses them with `docker-compose logs`.
const (
	brokerService   = "broker"
	producerService = "custom-producer"
	consumerService = "custom_consumer"
)

// legacyVars are variables the original's .env had that .env.example offers
// under another name; docker-compose.yml still reads the old name as a
// fallback, so an old .env keeps working.
var legacyVars = map[string]string{
	"KAFKA_TOPIC_CONFIG_retention_ms": "KAFKA_LOG_RETENTION_MS",
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// varRef is one interpolation in docker-compose.yml: ${NAME:-default} has a
// default, ${NAME} and $NAME have none.
type varRef struct {
	Name       string
	HasDefault bool
}

// references lists the interpolations in s, including those nested in a
// default (${A:-${B:-x}}).
func references(s string) []varRef {
	var refs []varRef
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			continue
		}
		switch s[i+1] {
		case '$': // $$ is a literal $
			i++
		case '{':
			depth, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			body := s[i+2 : min(j, len(s))]
			name := identifier(body)
			rest := body[len(name):]
			var def string
			hasDefault := true
			switch {
			case strings.HasPrefix(rest, ":-"):
				def = rest[2:]
			case strings.HasPrefix(rest, "-"):
				def = rest[1:]
			default:
				hasDefault = false
			}
			refs = append(refs, varRef{Name: name, HasDefault: hasDefault})
			refs = append(refs, references(def)...)
			i = j
		default:
			if name := identifier(s[i+1:]); name != "" {
				refs = append(refs, varRef{Name: name})
			}
		}
	}
	return refs
}

var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

func identifier(s string) string { return identifierRE.FindString(s) }

// loadCompose loads docker-compose.yml with compose-go, the loader of
// Docker Compose itself, as `docker compose` would with environ as the
// shell's environment and envFiles as --env-file. The test process's own
// environment and a .env that may lie in the repository are left out, so
// the result does not depend on the machine. It also returns every
// interpolation the file makes.
func loadCompose(t *testing.T, environ map[string]string, envFiles ...string) (*types.Project, []varRef) {
	t.Helper()
	return loadComposeFiles(t, []string{"docker-compose.yml"}, environ, envFiles...)
}

// loadComposeFiles is loadCompose with compose files other than
// docker-compose.yml alone, as `docker compose -f a.yml -f b.yml` merges
// them.
func loadComposeFiles(t *testing.T, files []string, environ map[string]string, envFiles ...string) (*types.Project, []varRef) {
	t.Helper()
	root := repoRoot(t)
	var (
		mu   sync.Mutex
		refs []varRef
	)
	substitute := func(s string, m template.Mapping) (string, error) {
		mu.Lock()
		refs = append(refs, references(s)...)
		mu.Unlock()
		return template.Substitute(s, m)
	}
	env := make([]string, 0, len(environ))
	for k, v := range environ {
		env = append(env, k+"="+v)
	}
	opts := []cli.ProjectOptionsFn{
		// The file sets no name (Compose names the project after the
		// folder); a clone's folder name may not be a valid one.
		cli.WithName("viewlog"),
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithLoadOptions(func(o *loader.Options) {
			// Load options also configure reading the files, where there
			// is nothing to interpolate yet.
			if o.Interpolate != nil {
				o.Interpolate.Substitute = substitute
			}
		}),
	}
	if len(envFiles) > 0 {
		opts = append(opts, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(root, f)
	}
	po, err := cli.NewProjectOptions(paths, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := po.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return p, refs
}

// service returns a service of p, failing the test if there is none.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// environment is the environment Compose gives a service's container. Every
// entry must have a value: a bare NAME would take it from the shell running
// `docker compose`, which nothing documents.
func environment(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	env := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		if v == nil {
			t.Errorf("%s: environment %s has no value", s.Name, k)
			continue
		}
		env[k] = *v
	}
	return env
}

// parseListeners parses a Kafka listener list, "NAME://host:port,...", into
// host:port by listener name.
func parseListeners(t *testing.T, variable, list string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for l := range strings.SplitSeq(list, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if _, _, err := net.SplitHostPort(addr); !ok || name == "" || err != nil {
			t.Fatalf("%s: %q is not NAME://host:port", variable, l)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("%s: listener %s twice", variable, name)
		}
		out[name] = addr
	}
	return out
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// envTags lists the variables a config struct reads, those of embedded
// structs (config.Kafka) included: the authoritative list of what a program
// can be told.
func envTags(v any) []string {
	var out []string
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				out = append(out, name)
			}
		}
	}
	walk(reflect.TypeOf(v))
	return out
}

// awsSDKSettings are the consumer's settings that the AWS SDK reads, for an
// s3:// OUTPUT_DIR; the secrets among them are not passed (notPassed).
var awsSDKSettings = []string{"AWS_REGION", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// notPassed are settings a program reads that Compose deliberately does not
// pass, with the reason.
var notPassed = map[string]string{
	"KAFKA_SASL_PASSWORD":   "a password in a container's environment shows in `docker inspect`; Compose passes it as a file (KAFKA_SASL_PASSWORD_FILE, a secret)",
	"AWS_ACCESS_KEY_ID":     "credentials come from a mounted file (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE), whose key pair goes together",
	"AWS_SECRET_ACCESS_KEY": "a secret in a container's environment shows in `docker inspect`; it comes from a mounted credentials file",
	"AWS_SESSION_TOKEN":     "a secret in a container's environment shows in `docker inspect`; it comes from a mounted credentials file",
}

// startModes are the two ways the deployment is meant to be started, as the
// env files each loads: bare `docker compose up`, and after
// `cp .env.example .env`.
func startModes(t *testing.T) map[string][]string {
	return map[string][]string{
		"no .env":              nil,
		".env.example as .env": {filepath.Join(repoRoot(t), ".env.example")},
	}
}

// TestComposeProject checks the deployment as Compose loads it, both without
// a .env and with .env.example: the original's three services, a pinned
// KRaft broker whose listeners agree with each other, the apps on the
// internal listener (the original sent them to localhost:9092, their own
// loopback), the healthcheck they wait for, every program setting passed
// through with a value the program accepts, and the consumer's data folder.
func TestComposeProject(t *testing.T) {
	for name, files := range startModes(t) {
		t.Run(name, func(t *testing.T) {
			p, _ := loadCompose(t, nil, files...)
			checkProject(t, p)
		})
	}
}

func checkProject(t *testing.T, p *types.Project) {
	root := repoRoot(t)
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{brokerService, producerService, consumerService}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	broker := service(t, p, brokerService)
	producer := service(t, p, producerService)
	consumer := service(t, p, consumerService)
	benv := environment(t, broker)

	// A pinned release: "latest" or a bare major would change under the
	// deployment without notice.
	if !regexp.MustCompile(`^apache/kafka:\d+\.\d+\.\d+$`).MatchString(broker.Image) {
		t.Errorf("broker image %q, want apache/kafka:<major>.<minor>.<patch>", broker.Image)
	}

	// KRaft, one node that is broker and controller.
	roles := strings.Split(benv["KAFKA_PROCESS_ROLES"], ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES=%q, want broker,controller", benv["KAFKA_PROCESS_ROLES"])
	}
	if id, err := base64.RawURLEncoding.DecodeString(benv["CLUSTER_ID"]); err != nil || len(id) != 16 {
		t.Errorf("CLUSTER_ID=%q is not a base64 UUID as kafka-storage.sh random-uuid prints", benv["CLUSTER_ID"])
	}
	listeners := parseListeners(t, "KAFKA_LISTENERS", benv["KAFKA_LISTENERS"])
	advertised := parseListeners(t, "KAFKA_ADVERTISED_LISTENERS", benv["KAFKA_ADVERTISED_LISTENERS"])
	protocols := map[string]bool{}
	for pair := range strings.SplitSeq(benv["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
		name, _, _ := strings.Cut(pair, ":")
		protocols[name] = true
	}
	for name := range listeners {
		if !protocols[name] {
			t.Errorf("listener %s has no entry in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", name)
		}
	}
	controller := benv["KAFKA_CONTROLLER_LISTENER_NAMES"]
	controllerAddr, ok := listeners[controller]
	if !ok {
		t.Fatalf("KAFKA_CONTROLLER_LISTENER_NAMES=%q is not in KAFKA_LISTENERS=%q", controller, benv["KAFKA_LISTENERS"])
	}
	if _, ok := advertised[controller]; ok {
		t.Errorf("KAFKA_ADVERTISED_LISTENERS advertises the controller listener %s", controller)
	}
	for name, addr := range advertised {
		l, ok := listeners[name]
		if !ok {
			t.Errorf("advertised listener %s is not in KAFKA_LISTENERS", name)
		} else if port(t, l) != port(t, addr) {
			t.Errorf("listener %s listens on %s but is advertised as %s", name, l, addr)
		}
	}
	// The broker's own name on the Compose network: what other containers
	// resolve.
	brokerHosts := []string{broker.Name, broker.Hostname}
	voters := benv["KAFKA_CONTROLLER_QUORUM_VOTERS"]
	id, voter, _ := strings.Cut(voters, "@")
	if id != benv["KAFKA_NODE_ID"] || voter == "" || port(t, voter) != port(t, controllerAddr) {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS=%q, want %s@<broker>:%s (KAFKA_NODE_ID and the %s listener)",
			voters, benv["KAFKA_NODE_ID"], port(t, controllerAddr), controller)
	}
	for _, v := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"} {
		// More than one replica on a single broker: the internal topic
		// cannot be created and consumer groups never form.
		if benv[v] != "1" {
			t.Errorf("%s=%q, want 1 on a single broker", v, benv[v])
		}
	}
	if n, err := strconv.Atoi(benv["KAFKA_NUM_PARTITIONS"]); err != nil || n < 3 {
		t.Errorf("KAFKA_NUM_PARTITIONS=%q, want at least 3 so that --scale custom_consumer=3 gives every consumer partitions", benv["KAFKA_NUM_PARTITIONS"])
	}

	// The original's flaw: containers used the listener advertised as
	// localhost:9092 and were sent to their own loopback. They must use
	// the inter-broker listener, advertised under the broker's name.
	internalName := benv["KAFKA_INTER_BROKER_LISTENER_NAME"]
	internal, ok := advertised[internalName]
	if !ok {
		t.Fatalf("KAFKA_INTER_BROKER_LISTENER_NAME=%q is not advertised in %q", internalName, benv["KAFKA_ADVERTISED_LISTENERS"])
	}
	if host, _, _ := net.SplitHostPort(internal); !slices.Contains(brokerHosts, host) {
		t.Errorf("internal listener advertised as %s; other containers know the broker as %v", internal, brokerHosts)
	}
	for _, s := range []types.ServiceConfig{producer, consumer} {
		if got := environment(t, s)["KAFKA_SERVER"]; got != internal {
			t.Errorf("%s: KAFKA_SERVER=%q, want the internal listener %q", s.Name, got, internal)
		}
	}
	// The host listener: advertised as localhost:P, so P must be published
	// as P on the host.
	hostListener := ""
	for _, addr := range advertised {
		if host, _, _ := net.SplitHostPort(addr); host == "localhost" {
			hostListener = addr
		}
	}
	if hostListener == "" {
		t.Errorf("no listener advertised on localhost for tools on the host: %q", benv["KAFKA_ADVERTISED_LISTENERS"])
	} else {
		hp := port(t, hostListener)
		published := slices.ContainsFunc(broker.Ports, func(pc types.ServicePortConfig) bool {
			return strconv.Itoa(int(pc.Target)) == hp && pc.Published == hp
		})
		if !published {
			t.Errorf("listener advertised as %s, but port %s is not published as %s: %+v", hostListener, hp, hp, broker.Ports)
		}
	}

	// The broker's healthcheck, which the apps wait for, asks a listener
	// the broker answers on inside its container.
	hc := broker.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		t.Fatalf("broker has no healthcheck: %+v", hc)
	}
	check := strings.Join(hc.Test[1:], " ")
	bootstrap := regexp.MustCompile(`--bootstrap-server[ =](\S+)`).FindStringSubmatch(check)
	if !strings.Contains(check, "kafka-broker-api-versions.sh") || bootstrap == nil ||
		(bootstrap[1] != internal && bootstrap[1] != hostListener) {
		t.Errorf("healthcheck %q: want kafka-broker-api-versions.sh --bootstrap-server %s (or %s)", check, internal, hostListener)
	}

	// The broker's log is on the BROKER_DATA volume.
	logDir := benv["KAFKA_LOG_DIRS"]
	if !slices.ContainsFunc(broker.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Target == logDir && v.Source == filepath.Join(root, "data", "kafka")
	}) {
		t.Errorf("KAFKA_LOG_DIRS=%q is not the target of the ./data/kafka volume: %+v", logDir, broker.Volumes)
	}

	for _, s := range []types.ServiceConfig{producer, consumer} {
		dockerfile := "Dockerfile." + strings.TrimPrefix(strings.TrimPrefix(s.Name, "custom-"), "custom_")
		if s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != dockerfile {
			t.Errorf("%s: build %+v, want context %s and dockerfile %s", s.Name, s.Build, root, dockerfile)
		}
		if dep, ok := s.DependsOn[brokerService]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %+v, want broker with condition service_healthy", s.Name, s.DependsOn)
		}
		// A container_name would forbid --scale.
		if s.ContainerName != "" {
			t.Errorf("%s: container_name %q prevents docker compose up --scale", s.Name, s.ContainerName)
		}
		if !slices.Contains([]string{"on-failure", "unless-stopped", "always"}, strings.SplitN(s.Restart, ":", 2)[0]) {
			t.Errorf("%s: restart %q, want on-failure or unless-stopped", s.Name, s.Restart)
		}
		shared := false
		for n := range s.Networks {
			if _, ok := broker.Networks[n]; ok && p.Networks[n].Driver == "bridge" {
				shared = true
			}
		}
		if !shared {
			t.Errorf("%s: shares no bridge network with the broker: %v", s.Name, s.Networks)
		}
	}

	// Compose can health-check the apps: their images have no shell, so
	// the binary checks its own probe. The consumer's HTTP server is
	// published on an ephemeral host port, so that --scale works.
	for _, c := range []struct {
		s   types.ServiceConfig
		bin string
	}{{producer, "/producer"}, {consumer, "/consumer"}} {
		hc := c.s.HealthCheck
		if hc == nil || !slices.Equal(hc.Test, []string{"CMD", c.bin, "healthcheck"}) {
			t.Errorf("%s: healthcheck %+v, want [CMD %s healthcheck]", c.s.Name, hc, c.bin)
		}
		if env := environment(t, c.s); env["METRICS_ADDR"] != ":8080" {
			t.Errorf("%s: METRICS_ADDR=%q, want :8080 in the container", c.s.Name, env["METRICS_ADDR"])
		}
	}
	if len(consumer.Ports) != 1 || consumer.Ports[0].Target != 8080 || consumer.Ports[0].Published != "" {
		t.Errorf("%s: ports %+v, want 8080 on an ephemeral host port", consumer.Name, consumer.Ports)
	}

	// Each program is given every setting it reads, and nothing it does
	// not read (a misspelt name would be ignored silently). The values
	// must be ones the program accepts.
	for _, c := range []struct {
		s    types.ServiceConfig
		vars []string
		load func(map[string]string) error
	}{
		{producer, envTags(config.Producer{}), func(e map[string]string) error { _, err := config.LoadProducer(e); return err }},
		{consumer, append(envTags(config.Consumer{}), awsSDKSettings...), func(e map[string]string) error { _, err := config.LoadConsumer(e); return err }},
	} {
		env := environment(t, c.s)
		for _, v := range c.vars {
			if _, ok := env[v]; !ok && notPassed[v] == "" {
				t.Errorf("%s: %s is not passed to the container", c.s.Name, v)
			}
			if _, passed := env[v]; passed && notPassed[v] != "" {
				t.Errorf("%s: %s is passed to the container, but %s", c.s.Name, v, notPassed[v])
			}
		}
		for v := range env {
			if !slices.Contains(c.vars, v) {
				t.Errorf("%s: environment %s is not a setting of the program", c.s.Name, v)
			}
		}
		if err := c.load(env); err != nil {
			t.Errorf("%s: the program rejects its Compose environment:\n%v", c.s.Name, err)
		}
	}

	// The consumer reads campaigns.csv from, and writes Parquet to, the
	// mounted data folder: ./data/log_data/input_data/campaigns.csv in and
	// ./data/output_data out on the host.
	cenv := environment(t, consumer)
	mount, ok := dataMount(consumer, cenv)
	if !ok {
		t.Fatalf("%s: no volume holds both CAMPAIGNS_CSV_PATH=%s and OUTPUT_DIR=%s: %+v",
			consumer.Name, cenv["CAMPAIGNS_CSV_PATH"], cenv["OUTPUT_DIR"], consumer.Volumes)
	}
	if mount.Source != filepath.Join(root, "data") {
		t.Errorf("%s: data volume source %s, want %s", consumer.Name, mount.Source, filepath.Join(root, "data"))
	}
	if got := hostPath(mount, cenv["OUTPUT_DIR"]); got != filepath.Join(root, "data", "output_data") {
		t.Errorf("%s: output lands in %s on the host, want data/output_data", consumer.Name, got)
	}
	if _, err := os.Stat(hostPath(mount, cenv["CAMPAIGNS_CSV_PATH"])); err != nil {
		t.Errorf("%s: CAMPAIGNS_CSV_PATH is not in the repository's data folder: %v", consumer.Name, err)
	}
	// Not root, so output files are not root's on the host.
	uid, _, _ := strings.Cut(consumer.User, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("%s: user %q, want a non-root uid:gid that owns the output on the host", consumer.Name, consumer.User)
	}
	if consumer.StopGracePeriod == nil || time.Duration(*consumer.StopGracePeriod) < 15*time.Second {
		t.Errorf("%s: stop_grace_period %v, want at least 15s to finish its batch on docker compose stop", consumer.Name, consumer.StopGracePeriod)
	}
}

// dataMount is the consumer's bind mount under which both its input and
// its output paths lie.
func dataMount(s types.ServiceConfig, env map[string]string) (types.ServiceVolumeConfig, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && under(env["CAMPAIGNS_CSV_PATH"], v.Target) && under(env["OUTPUT_DIR"], v.Target) {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// under reports whether the container path p lies in dir.
func under(p, dir string) bool {
	rel, ok := strings.CutPrefix(path.Clean(p), path.Clean(dir)+"/")
	return path.IsAbs(p) && ok && rel != ""
}

// hostPath maps a container path under v's target to the host.
func hostPath(v types.ServiceVolumeConfig, p string) string {
	rel := strings.TrimPrefix(path.Clean(p), path.Clean(v.Target)+"/")
	return filepath.Join(v.Source, filepath.FromSlash(rel))
}

// TestComposeDefaultsMatchEnvExample guards against the two drifting apart:
// .env.example documents the defaults, so copying it to .env must change
// nothing.
func TestComposeDefaultsMatchEnvExample(t *testing.T) {
	bare, _ := loadCompose(t, nil)
	example, _ := loadCompose(t, nil, filepath.Join(repoRoot(t), ".env.example"))
	for _, name := range bare.ServiceNames() {
		a, b := service(t, bare, name), service(t, example, name)
		ea, eb := environment(t, a), environment(t, b)
		for k := range ea {
			if ea[k] != eb[k] {
				t.Errorf("%s: %s is %q by default but %q with .env.example", name, k, ea[k], eb[k])
			}
		}
		for k := range eb {
			if _, ok := ea[k]; !ok {
				t.Errorf("%s: %s is set only with .env.example", name, k)
			}
		}
		a.Environment, b.Environment = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs between the defaults and .env.example:\ndefaults:     %+v\n.env.example: %+v", name, a, b)
		}
	}
}

// TestComposeVariables checks that `docker compose up` works without a
// .env (every interpolation has a default) and that .env.example offers
// exactly the variables the Compose files read, plus the original's.
func TestComposeVariables(t *testing.T) {
	_, refs := loadComposeFiles(t, []string{"docker-compose.yml", managedCompose}, nil)
	used := map[string]bool{}
	for _, r := range refs {
		used[r.Name] = true
		if !r.HasDefault {
			t.Errorf("${%s} has no default: write ${%s:-value}", r.Name, r.Name)
		}
	}
	example, err := dotenv.GetEnvFromFile(map[string]string{}, []string{filepath.Join(repoRoot(t), ".env.example")})
	if err != nil {
		t.Fatal(err)
	}
	for name := range used {
		if _, ok := example[name]; !ok && legacyVars[name] == "" {
			t.Errorf("docker-compose.yml reads %s, which .env.example does not offer", name)
		}
	}
	for name := range example {
		if !used[name] {
			t.Errorf(".env.example offers %s, which docker-compose.yml does not read", name)
		}
	}
	for _, name := range readList(t, filepath.Join("testdata", "seed-env-vars.txt")) {
		if repl, ok := legacyVars[name]; ok {
			name = repl
		}
		if _, ok := example[name]; !ok {
			t.Errorf(".env.example lacks %s, which the original's .env had", name)
		}
	}
}

// TestComposeLegacyRetention checks that the retention an older .env sets
// under the original's name still reaches the broker, and that the new name
// wins when both are set.
func TestComposeLegacyRetention(t *testing.T) {
	for _, c := range []struct {
		environ map[string]string
		want    string
	}{
		{map[string]string{"KAFKA_TOPIC_CONFIG_retention_ms": "60000"}, "60000"},
		{map[string]string{"KAFKA_TOPIC_CONFIG_retention_ms": "60000", "KAFKA_LOG_RETENTION_MS": "120000"}, "120000"},
	} {
		p, _ := loadCompose(t, c.environ)
		if got := environment(t, service(t, p, brokerService))["KAFKA_LOG_RETENTION_MS"]; got != c.want {
			t.Errorf("with %v: KAFKA_LOG_RETENTION_MS=%q, want %q", c.environ, got, c.want)
		}
	}
}

// TestEnvExampleFormat checks that every variable has its comment, and that
// sh reads the file as Compose does: `make run-local` sources it, and an
// unquoted value with a space would run a command instead.
func TestEnvExampleFormat(t *testing.T) {
	file := filepath.Join(repoRoot(t), ".env.example")
	lines := readLines(t, file)
	for i, l := range lines {
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf(".env.example: %q has no comment line above it", l)
		}
	}
	compose, err := dotenv.GetEnvFromFile(map[string]string{}, []string{file})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `set -a; . "$1"; exec env`, "sh", file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh cannot source .env.example: %v", err)
	}
	shell := map[string]string{}
	for l := range strings.SplitSeq(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			shell[k] = v
		}
	}
	for k, v := range compose {
		if shell[k] != v {
			t.Errorf("%s: Compose reads %q, sh reads %q", k, v, shell[k])
		}
	}
}

// readLines returns the lines of a file.
func readLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// readList returns the entries of a list file: its lines less blank lines
// and comments.
func readList(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, l := range readLines(t, file) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
