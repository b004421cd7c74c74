// Command hyperfs works with Hypercore Protocol archives: today, the
// append-only feeds they are made of.
//
// Usage:
//
//	hyperfs <command> [flags] [arguments]
//
// Run "hyperfs help <command>" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// Exit codes, one per kind of failure so scripts can tell them apart.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitLocked   = 3
	exitNotFound = 4
)

// streams are the standard files a command reads and writes; tests replace them.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one verb: flags registers its flags and returns the function
// that runs it on the remaining arguments.
type command struct {
	name    string
	usage   string // arguments after the verb
	summary string
	flags   func(fs *flag.FlagSet, std *streams) func(args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError marks an error in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], &streams{os.Stdin, os.Stdout, os.Stderr}))
}

func run(args []string, std *streams) int {
	stdout, stderr := std.stdout, std.stderr
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()})))
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" {
		if len(rest) == 0 {
			printUsage(stdout)
			return exitOK
		}
		c := lookup(rest)
		if c == nil {
			fmt.Fprintf(stderr, "hyperfs: unknown command %q\n", strings.Join(rest, " "))
			return exitUsage
		}
		fs := newFlagSet(c, stdout)
		c.flags(fs, std)
		fs.Usage()
		return exitOK
	}
	c := lookup(args)
	if c == nil {
		fmt.Fprintf(stderr, "hyperfs: unknown command %q (see hyperfs help)\n", name)
		return exitUsage
	}
	rest = args[len(strings.Fields(c.name)):]
	fs := newFlagSet(c, stderr)
	runFn := c.flags(fs, std)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := runFn(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "hyperfs %s: %v\n", c.name, err)
		return exitCode(err)
	}
	return exitOK
}

// lookup finds the longest command name ("feed append") matching args.
func lookup(args []string) *command {
	for n := min(len(args), 2); n > 0; n-- {
		if c := commands[strings.Join(args[:n], " ")]; c != nil {
			return c
		}
	}
	return nil
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: hyperfs %s [flags] %s\n\n%s\n", c.name, c.usage, c.summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "hyperfs works with Hypercore Protocol archives.\n\nusage: hyperfs <command> [flags] [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"hyperfs help <command>\" for details. Set HYPERFS_DEBUG=1 for debug logs.")
}

func logLevel() slog.Level {
	if os.Getenv("HYPERFS_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
