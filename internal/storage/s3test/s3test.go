// Package s3test runs a real S3-protocol server for tests: versitygw
// (Apache-2.0, github.com/versity/versitygw) serving a temporary directory,
// in which every subdirectory is a bucket and every object a file, so that
// tests can read what was written both over the S3 API and from the disk.
//
// Install the server with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
//
// Without it the tests that need it are skipped, unless
// VIEWLOG_REQUIRE_VERSITYGW=1 is set (CI sets it), which makes that a
// failure.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sys/unix"

	"github.com/viewlog/viewlog/internal/childproc"
)

// Install is the command that installs the server this package runs.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// RequireEnv is the environment variable that, set to 1, turns a missing
// server binary from a skip into a failure.
const RequireEnv = "VIEWLOG_REQUIRE_VERSITYGW"

// Server is a running versitygw process.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:<port>.
	Endpoint string
	// Region is the region the server signs for.
	Region string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string
	// Dir is the directory served: Dir/<bucket>/<key> is an object's data.
	Dir string

	proc    *childproc.Proc
	client  *s3.Client
	scratch string // files the server does not serve
	buckets atomic.Int64
}

// Binary returns the path of the versitygw binary: on PATH, or in
// $(go env GOPATH)/bin, where go install puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for gopath := range strings.SplitSeq(strings.TrimSpace(string(out)), string(os.PathListSeparator)) {
			p := filepath.Join(gopath, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("versitygw not found on PATH or in $(go env GOPATH)/bin; install it with %s", Install)
}

// Start runs versitygw on a free loopback port, serving a temporary
// directory, and waits until it answers S3 requests. The server is killed
// when the test ends. Start skips the test if the binary is missing, unless
// VIEWLOG_REQUIRE_VERSITYGW=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, RequireEnv)
		}
		t.Skip(err)
	}
	base := t.TempDir()
	s := &Server{
		Region:    "us-east-1",
		AccessKey: "viewlog-test-" + randomHex(4),
		SecretKey: randomHex(20),
		Dir:       filepath.Join(base, "root"),
		scratch:   filepath.Join(base, "scratch"),
	}
	for _, d := range []string{s.Dir, s.scratch} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := childproc.FreeAddr(t)
	s.Endpoint = "http://" + addr
	args := []string{"--port", addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region, "--quiet", "posix"}
	// versitygw keeps object metadata (ETag, checksums, content type) in
	// extended attributes; where the file system has none, in a sidecar
	// directory.
	if !xattrSupported(s.Dir) {
		meta := filepath.Join(base, "meta")
		if err := os.Mkdir(meta, 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--sidecar", meta)
	}
	args = append(args, s.Dir)
	s.proc = childproc.Start(t, bin, map[string]string{}, args...)
	childproc.WaitTCP(t, addr, s.proc, 20*time.Second)
	s.client = s3.New(s3.Options{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
	})
	s.waitReady(t)
	return s
}

// waitReady waits until the server lists buckets: the port opens a moment
// before the server serves.
func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return
		}
		if s.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("versitygw does not answer on %s: %v\n%s", s.Endpoint, err, s.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server, for tests of an endpoint that goes away.
func (s *Server) Stop() { s.proc.Kill() }

// Client is an S3 client of the server with the root user's credentials.
// It reads nothing from the environment.
func (s *Server) Client() *s3.Client { return s.client }

// Env is the environment that points a program's AWS SDK at the server with
// the root user's credentials, and at nothing else: no shared config files,
// no instance metadata service.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           s.AccessKey,
		"AWS_SECRET_ACCESS_KEY":       s.SecretKey,
		"AWS_REGION":                  s.Region,
		"AWS_ENDPOINT_URL_S3":         s.Endpoint,
		"AWS_CONFIG_FILE":             filepath.Join(s.scratch, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(s.scratch, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// Options are configuration loader options with the same effect as Env,
// for a store opened in the test's own process; they override whatever the
// test's environment says.
func (s *Server) Options() []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithRegion(s.Region),
		config.WithBaseEndpoint(s.Endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
	}
}

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// NewBucket creates a bucket with a name no other test of this server uses,
// and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("bucket-%03d", s.buckets.Add(1))
	s.CreateBucket(t, name)
	return name
}

// BucketDir is the directory that holds bucket's objects.
func (s *Server) BucketDir(bucket string) string { return filepath.Join(s.Dir, bucket) }

// List returns the keys of the objects in bucket under prefix, sorted.
func (s *Server) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Get returns an object's content; an error wrapping os.ErrNotExist if
// there is no such object.
func (s *Server) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, os.ErrNotExist)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// IncompleteUploads returns the keys of multipart uploads in bucket that
// were started and neither completed nor aborted.
func (s *Server) IncompleteUploads(ctx context.Context, bucket string) ([]string, error) {
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads in %s: %w", bucket, err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// xattrSupported reports whether dir's file system takes user extended
// attributes.
func xattrSupported(dir string) bool {
	probe := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return false
	}
	defer os.Remove(probe)
	return unix.Setxattr(probe, "user.viewlog.probe", []byte("1"), 0) == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
