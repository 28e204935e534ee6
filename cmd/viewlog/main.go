// Command viewlog answers questions about the pipeline's output from the
// command line. `viewlog query` prints the newest windows in OUTPUT_DIR.
// It links DuckDB through cgo, so `make query` builds it and `make build`
// does not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/viewlog/viewlog/internal/query"
)

const usage = `usage: viewlog <command> [flags]

commands:
  query   print the newest windows of the consumer's output (viewlog query -h)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run returns the exit status: 0 done, 1 failed, 2 wrong usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "query":
		err := query.Run(ctx, args[1:], nil, stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, query.ErrUsage):
			return 2
		default:
			fmt.Fprintln(stderr, "viewlog query:", err)
			return 1
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "viewlog: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
