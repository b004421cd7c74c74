package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyperfs/hyperfs/app"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Commands that run inside a storage's service when one is running are
// marked with the forward annotation; its value lists the positional
// arguments that are local paths ("0", "1", "last"), which are made
// absolute before the command line travels. A drive argument that is a
// storage folder is made absolute too.
const forwardAnnotation = "hyperfs-forward"

func forwardable(cmd *cobra.Command, localArgs string) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[forwardAnnotation] = localArgs
	return cmd
}

// forwarded carries the exit code of a command the service ran.
type forwarded struct{ code int }

func (f forwarded) Error() string { return fmt.Sprintf("exit %d", f.code) }

// session returns the session a command works in: the service's, or a new
// one on the storage folder dir (c.storage if empty), closed by done.
func (c *cli) session(o app.Options, dir string) (s *app.Session, done func(), err error) {
	if c.svc != nil {
		return c.svc.S, func() {}, nil
	}
	s, err = app.Open(o, dir)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { s.Close() }, nil
}

// context returns the context of a command: the request's in a service
// (ended when the client goes away), else one ended by ^C or SIGTERM.
func (c *cli) context() (context.Context, context.CancelFunc) {
	if c.ctx != nil {
		return context.WithCancel(c.ctx)
	}
	return signalContext()
}

// abs makes a local path absolute against the client's folder.
func (c *cli) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if c.cwd != "" {
		return filepath.Join(c.cwd, p)
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// maybeForward runs cmd in the service of its storage, if one answers,
// and returns forwarded with its exit code; nil means run it here.
func (c *cli) maybeForward(cmd *cobra.Command, args []string) error {
	localArgs, ok := cmd.Annotations[forwardAnnotation]
	if !ok || c.svc != nil {
		return nil
	}
	storage := c.storage
	for _, a := range args {
		if app.IsStorageDir(a) {
			storage = a
			break
		}
	}
	conn, ok := app.Dial(storage)
	if !ok {
		return nil
	}
	argv := strings.Fields(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()))
	visit := func(f *pflag.Flag) {
		switch {
		case f.Name == "storage":
			return
		case f.Value.Type() == "stringArray":
			for _, v := range f.Value.(pflag.SliceValue).GetSlice() {
				argv = append(argv, "--"+f.Name+"="+v)
			}
		default:
			argv = append(argv, "--"+f.Name+"="+f.Value.String())
		}
	}
	cmd.Flags().Visit(visit)
	argv = append(argv, "--storage="+c.abs(storage), "--")
	for i, a := range args {
		local := strings.Contains(","+localArgs+",", fmt.Sprintf(",%d,", i)) || (localArgs == "last" && i == len(args)-1)
		if local || app.IsStorageDir(a) {
			a = c.abs(a)
		}
		argv = append(argv, a)
	}
	cwd, _ := os.Getwd()
	code, err := app.Forward(conn, app.Request{Args: argv, Cwd: cwd}, c.std.stdout, c.std.stderr)
	if err != nil {
		return err
	}
	return forwarded{code}
}

// serviceHandler runs requests inside the service: the same commands, on
// the service's session, with the client's streams.
func serviceHandler(svc **app.Service) app.Handler {
	return func(ctx context.Context, req app.Request, stdout, stderr io.Writer) int {
		c := &cli{std: &streams{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr}, svc: *svc, ctx: ctx, cwd: req.Cwd}
		return c.run(req.Args)
	}
}
