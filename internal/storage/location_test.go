package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	. "github.com/viewlog/viewlog/internal/storage"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in   string
		want Location
	}{
		{"data/output_data", Location{Scheme: "file", Dir: "data/output_data"}},
		{"/var/lib/viewlog", Location{Scheme: "file", Dir: "/var/lib/viewlog"}},
		{"./out", Location{Scheme: "file", Dir: "./out"}},
		{"dir:with:colons", Location{Scheme: "file", Dir: "dir:with:colons"}},
		{"file:///abs/path", Location{Scheme: "file", Dir: "/abs/path"}},
		{"file:///abs/path/", Location{Scheme: "file", Dir: "/abs/path"}},
		{"file://localhost/abs", Location{Scheme: "file", Dir: "/abs"}},
		{"file:///with%20space", Location{Scheme: "file", Dir: "/with space"}},
		{"FILE:///upper", Location{Scheme: "file", Dir: "/upper"}},
		{"file:///", Location{Scheme: "file", Dir: "/"}},
		{"s3://bucket", Location{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/", Location{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/views", Location{Scheme: "s3", Bucket: "bucket", Prefix: "views/"}},
		{"s3://bucket/views/", Location{Scheme: "s3", Bucket: "bucket", Prefix: "views/"}},
		{"s3://my.bucket-1/a/b=c/d", Location{Scheme: "s3", Bucket: "my.bucket-1", Prefix: "a/b=c/d/"}},
		{"S3://Legacy_Bucket/x", Location{Scheme: "s3", Bucket: "Legacy_Bucket", Prefix: "x/"}},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// Every refusal is a *LocationError naming OUTPUT_DIR, the value and the
// accepted forms, as the other settings' errors do.
func TestParseLocationRefuses(t *testing.T) {
	for _, in := range []string{
		"", "  ",
		"s3://", "s3:///prefix", "s3://ab/x", "s3://bad*bucket/x", "s3://b..ucket?x=1", "s3://bucket/a//b", "s3://bucket/../x",
		"s3://bucket/a\\b", "s3://bucket/x#frag", "s3:bucket/x", "s3:/bucket",
		"file:relative", "file://relative/path", "file://host/abs", "file:", "file://", "file:///a?x=1",
		"gs://bucket/x", "hdfs://nn/path", "http://example.com/x", "ftp://x/y",
		"bad\x00path",
	} {
		_, err := ParseLocation(in)
		var le *LocationError
		if !errors.As(err, &le) {
			t.Errorf("ParseLocation(%q): %v, want a *LocationError", in, err)
			continue
		}
		if le.Value != in || !strings.HasPrefix(err.Error(), "OUTPUT_DIR=") || !strings.HasSuffix(err.Error(), "; accepted: "+LocationForms) {
			t.Errorf("ParseLocation(%q): %q does not name OUTPUT_DIR, the value and the accepted forms", in, err)
		}
	}
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"data/output_data", "file:///abs", "s3://bucket/views", "s3://b", "gs://x", "file://h/x", "s3://bucket/a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocation(s)
		if err != nil {
			var le *LocationError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LocationError", err)
			}
			return
		}
		switch loc.Scheme {
		case "s3":
			if loc.Bucket == "" || loc.Prefix != "" && !strings.HasSuffix(loc.Prefix, "/") {
				t.Fatalf("%q: %+v", s, loc)
			}
			// The URL form parses back to the same place.
			again, err := ParseLocation(loc.String())
			if err != nil || again != loc {
				t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, loc, loc.String(), again, err)
			}
			// Every valid key lands under the prefix.
			if loc.Prefix != "" && strings.Contains(loc.Prefix, "//") {
				t.Fatalf("%q: prefix %q has an empty element", s, loc.Prefix)
			}
		case "file":
			if loc.Dir == "" {
				t.Fatalf("%q: empty directory", s)
			}
		default:
			t.Fatalf("%q: scheme %q", s, loc.Scheme)
		}
	})
}

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

func TestPathStyleUnmarshal(t *testing.T) {
	for in, want := range map[string]PathStyle{
		"": PathStyleAuto, " ": PathStyleAuto, "true": PathStyleOn, "1": PathStyleOn, "TRUE": PathStyleOn,
		"false": PathStyleOff, "0": PathStyleOff, "f": PathStyleOff,
	} {
		var p PathStyle
		if err := p.UnmarshalText([]byte(in)); err != nil || p != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, p, err, want)
		}
	}
	for _, in := range []string{"yes", "on", "path", "2"} {
		var p PathStyle
		if err := p.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", in)
		}
	}
}
