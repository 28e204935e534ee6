// Package config reads the programs' settings from the environment, once, at
// start. Every setting has a default; a value that cannot be used stops the
// program with a message that names the variable, repeats the value and says
// which forms are accepted.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Error is a setting that cannot be used.
type Error struct {
	Var    string // environment variable
	Value  string // value as given
	Reason string // what is wrong
	Forms  string // accepted forms
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
	if e.Forms != "" {
		msg += "; accepted: " + e.Forms
	}
	return msg
}

// parse fills a T from environ (the process environment if nil) and turns
// the env library's errors, which name Go fields, into Errors that name the
// variable and its accepted forms, taken from the field's `forms` tag.
func parse[T any](environ map[string]string) (T, error) {
	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: environ})
	if err == nil {
		return cfg, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return cfg, err
	}
	var errs []error
	t := reflect.TypeFor[T]()
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			errs = append(errs, e)
			continue
		}
		f, ok := t.FieldByName(pe.Name)
		if !ok {
			errs = append(errs, e)
			continue
		}
		name := f.Tag.Get("env")
		if i := strings.IndexByte(name, ','); i >= 0 {
			name = name[:i]
		}
		errs = append(errs, &Error{
			Var:    name,
			Value:  lookup(environ, name),
			Reason: reasonOf(pe.Err),
			Forms:  f.Tag.Get("forms"),
		})
	}
	return cfg, errors.Join(errs...)
}

// reasonOf strips strconv's "strconv.ParseInt: parsing "x": " preamble,
// which repeats what the message already says.
func reasonOf(err error) string {
	var ne interface{ Unwrap() error }
	if errors.As(err, &ne) {
		if inner := ne.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// check appends an Error to errs when ok is false.
func check(errs *[]error, ok bool, name, value, reason, forms string) {
	if !ok {
		*errs = append(*errs, &Error{Var: name, Value: value, Reason: reason, Forms: forms})
	}
}

// lookup returns the raw value of name, for error messages.
func lookup(environ map[string]string, name string) string {
	if environ != nil {
		return environ[name]
	}
	return os.Getenv(name)
}
