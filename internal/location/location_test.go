package location

import (
	"errors"
	"strings"
	"testing"
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
