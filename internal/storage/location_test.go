package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	. "github.com/viewlog/viewlog/internal/storage"
)

// hermetic are loader options that keep the machine's AWS setup out and
// send nothing anywhere.
func hermetic() []func(*config.LoadOptions) error {
	return []func(*config.LoadOptions) error{
		config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret-never-printed", "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		in, want string
	}{
		{dir, dir},
		{"file://" + dir, dir},
		{"file://" + dir + "/sub/", filepath.Join(dir, "sub")},
		{"s3://bucket/views", "s3://bucket/views (region eu-west-1)"},
		{"s3://bucket", "s3://bucket (region eu-west-1)"},
	} {
		s, err := Open(t.Context(), tt.in, Options{AWS: hermetic()})
		if err != nil {
			t.Errorf("Open(%q): %v", tt.in, err)
			continue
		}
		if s.String() != tt.want {
			t.Errorf("Open(%q).String() = %q, want %q", tt.in, s.String(), tt.want)
		}
	}
	if s, err := Open(t.Context(), "gs://bucket", Options{}); s != nil || err == nil {
		t.Errorf("Open(gs://bucket) = %v, %v; want an error and no store", s, err)
	}
}

// String never shows a secret, not even one written into the endpoint URL.
func TestS3StringHidesSecrets(t *testing.T) {
	opts := append(hermetic(), config.WithBaseEndpoint("https://user:pa55word@s3.example.com:9000"))
	s, err := Open(context.Background(), "s3://bucket/p", Options{AWS: opts})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "s3://bucket/p (endpoint https://s3.example.com:9000)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
