package storage

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Errors that Put and Check wrap, so that callers can say why a write failed
// (errors.Is) without reading messages. The first three are worth retrying:
// an operator can create the bucket, fix the permissions or start the
// server while the caller waits.
var (
	// ErrBucketNotFound: the bucket named in OUTPUT_DIR does not exist.
	ErrBucketNotFound = errors.New("bucket does not exist")
	// ErrAccessDenied: the store refused the credentials or the write
	// (wrong or expired keys, missing permission, a directory this process
	// may not write).
	ErrAccessDenied = errors.New("access denied")
	// ErrUnreachable: a request could not be sent or got no answer
	// (connection refused or broken, name not resolved, timed out).
	ErrUnreachable = errors.New("endpoint unreachable")
	// ErrInvalidKey: the key is not a relative slash-separated name that
	// stays inside the store. A caller's bug, not worth retrying.
	ErrInvalidKey = errors.New("invalid key")
)

// s3AccessDenied are S3 error codes that mean the credentials were refused
// or lack a permission.
var s3AccessDenied = map[string]bool{
	"AccessDenied":          true,
	"AllAccessDisabled":     true,
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"ExpiredToken":          true,
	"InvalidToken":          true,
	"TokenRefreshRequired":  true,
	"InvalidSecurity":       true,
	// versitygw's answer to an unknown access key (AWS: InvalidAccessKeyId).
	"XAdminUserNotFound": true,
}

// classifyS3 returns the sentinel that err from an S3 call amounts to, or
// nil.
func classifyS3(err error) error {
	// The caller's own context ending says nothing about the store (and
	// context.DeadlineExceeded would pass for a net.Error below).
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case code == "NoSuchBucket":
			return ErrBucketNotFound
		case s3AccessDenied[code]:
			return ErrAccessDenied
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() == 403 {
		return ErrAccessDenied
	}
	// Credentials that cannot even be found locally are refused before any
	// request is sent.
	if errors.Is(err, errNoCredentials) {
		return ErrAccessDenied
	}
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &send) || errors.As(err, &netErr) {
		return ErrUnreachable
	}
	return nil
}

// errNoCredentials marks a failure to find credentials at all.
var errNoCredentials = errors.New("no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)")

// classifyLocal returns the sentinel that err from the file system amounts
// to, or nil.
func classifyLocal(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return ErrAccessDenied
	}
	return nil
}
