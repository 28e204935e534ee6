package deployment

import (
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/viewlog/viewlog/internal/config"
	"github.com/viewlog/viewlog/internal/testpki"
)

// managedCompose is the override that points the programs at a managed,
// secured cluster.
const managedCompose = "docker-compose.managed.yml"

var managedFiles = []string{"docker-compose.yml", managedCompose}

// clientMounts are what a service of the managed deployment mounts for
// Kafka: the read-only folder of client files, and the secrets, by the
// path the program sees them at.
type clientMounts struct {
	files   types.ServiceVolumeConfig
	secrets map[string]string // container path -> host file
}

func mountsOf(t *testing.T, p *types.Project, s types.ServiceConfig) clientMounts {
	t.Helper()
	m := clientMounts{secrets: map[string]string{}}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && strings.Contains(v.Target, "kafka") {
			m.files = v
		}
	}
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		m.secrets[target] = p.Secrets[sec.Source].File
	}
	return m
}

// TestManagedCompose checks the override for a managed cluster: both
// programs get the client files read-only and the password as a secret,
// from host files that never reach an image's build context, and run as a
// user who can own those files; nothing else changes, and no password is
// in an environment.
func TestManagedCompose(t *testing.T) {
	root := repoRoot(t)
	managed, _ := loadComposeFiles(t, managedFiles, nil)
	plain, _ := loadCompose(t, nil)
	pm := dockerignore(t)
	for _, name := range []string{producerService, consumerService} {
		s := service(t, managed, name)
		env := environment(t, s)
		if _, ok := env["KAFKA_SASL_PASSWORD"]; ok {
			t.Errorf("%s: KAFKA_SASL_PASSWORD is in the environment: %s", name, notPassed["KAFKA_SASL_PASSWORD"])
		}
		if !maps.Equal(env, environment(t, service(t, plain, name))) {
			t.Errorf("%s: %s changes the environment; settings belong in .env", name, managedCompose)
		}
		m := mountsOf(t, managed, s)
		if m.files.Source == "" || !m.files.ReadOnly {
			t.Errorf("%s: no read-only bind mount for the client files: %+v", name, s.Volumes)
		}
		if m.files.Source != filepath.Join(root, "kafka-client") {
			t.Errorf("%s: client files from %s, want ./kafka-client by default", name, m.files.Source)
		}
		secret, ok := m.secrets["/run/secrets/kafka_sasl_password"]
		if !ok || secret != filepath.Join(root, "kafka-client", "sasl_password") {
			t.Errorf("%s: secrets %v, want /run/secrets/kafka_sasl_password from ./kafka-client/sasl_password", name, m.secrets)
		}
		if uid, _, _ := strings.Cut(s.User, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("%s: user %q, want a non-root uid that can own the client files", name, s.User)
		}
		for _, host := range []string{filepath.Join(m.files.Source, "client-key.pem"), secret} {
			rel, err := filepath.Rel(root, host)
			if err != nil {
				t.Fatal(err)
			}
			excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
			if err != nil {
				t.Fatal(err)
			}
			if !excluded {
				t.Errorf("%s would be sent to the image build: .dockerignore must keep it out", rel)
			}
		}
	}
}

// managedBlocks parses the commented examples of .env.example's
// managed-cluster section: each "# With ..." line starts one, whose
// "#NAME=value" lines are its settings.
func managedBlocks(t *testing.T) map[string]map[string]string {
	t.Helper()
	setting := regexp.MustCompile(`^#([A-Z][A-Z0-9_]*)=(.*)$`)
	blocks := map[string]map[string]string{}
	var cur map[string]string
	in := false
	for _, l := range readLines(t, filepath.Join(repoRoot(t), ".env.example")) {
		switch m := setting.FindStringSubmatch(l); {
		case strings.HasPrefix(l, "# --- "):
			in = strings.Contains(l, "Managed, secured Kafka")
			cur = nil
		case in && strings.HasPrefix(l, "# With "):
			cur = map[string]string{}
			blocks[strings.TrimPrefix(l, "# ")] = cur
		case cur != nil && m != nil:
			cur[m[1]] = m[2]
		default:
			cur = nil
		}
	}
	return blocks
}

// TestEnvExampleManagedBlocks loads the deployment as a user following
// .env.example's managed-cluster examples would: each example, through
// Compose with the managed override, gives both programs settings they
// accept, whose files lie in what the override mounts. The files
// themselves are generated here and put where the mounts would show them.
func TestEnvExampleManagedBlocks(t *testing.T) {
	blocks := managedBlocks(t)
	if len(blocks) != 2 {
		t.Fatalf("%d managed-cluster examples in .env.example, want 2 (SASL, mutual TLS): %v", len(blocks), blocks)
	}
	ca := testpki.NewCA(t, "cluster CA")
	client := ca.Client(t, "viewlog")
	for title, vars := range blocks {
		t.Run(title, func(t *testing.T) {
			p, _ := loadComposeFiles(t, managedFiles, vars)
			for _, name := range []string{producerService, consumerService} {
				s := service(t, p, name)
				env := environment(t, s)
				m := mountsOf(t, p, s)
				files, secrets := t.TempDir(), t.TempDir()
				for k, v := range env {
					if !strings.HasSuffix(k, "_FILE") || v == "" {
						continue
					}
					var host string
					var content []byte
					switch {
					case k == "KAFKA_SASL_PASSWORD_FILE":
						if _, ok := m.secrets[v]; !ok {
							t.Errorf("%s: %s=%s is not a mounted secret (%v)", name, k, v, m.secrets)
							continue
						}
						host, content = filepath.Join(secrets, path.Base(v)), []byte("the-password\n")
					case under(v, m.files.Target):
						host = filepath.Join(files, filepath.FromSlash(strings.TrimPrefix(v, m.files.Target+"/")))
						content = map[string][]byte{"KAFKA_TLS_CA_FILE": ca.CertPEM, "KAFKA_TLS_CERT_FILE": client.CertPEM, "KAFKA_TLS_KEY_FILE": client.KeyPEM}[k]
					default:
						t.Errorf("%s: %s=%s is not in the client files folder %s", name, k, v, m.files.Target)
						continue
					}
					testpki.WriteFile(t, filepath.Dir(host), filepath.Base(host), content)
					env[k] = host
				}
				var cfg config.Kafka
				var err error
				if name == producerService {
					var c config.Producer
					c, err = config.LoadProducer(env)
					cfg = c.Kafka
				} else {
					var c config.Consumer
					c, err = config.LoadConsumer(env)
					cfg = c.Kafka
				}
				if err != nil {
					t.Errorf("%s rejects the example:\n%v", name, err)
					continue
				}
				if got, want := cfg.ClientConfig().SecurityProtocol(), vars["KAFKA_SECURITY_PROTOCOL"]; got != want {
					t.Errorf("%s: security protocol %s, want %s", name, got, want)
				}
			}
		})
	}
}
