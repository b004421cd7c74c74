// Command transferbench measures hyperfs export and import against the
// JavaScript stack copying the same drive with hyperdrive 10's public API
// (integration/js/scripts/drive-copy.js), side by side in one run, and
// prints a table with the ratios.
//
//	go run ./bench/transferbench [-scale 0.1] [-rounds 3]
//
// The drive is the interop sample JS writes (drive-write.js): a big file,
// many small files, nested folders, a symlink and a mounted drive. hyperfs
// is timed from starting the process to its exit (opening the storage
// included); JS only for the copy (node start-up and opening not counted),
// so the ratios lean towards JS.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hyperfs/hyperfs/integration/jsref"
)

func main() {
	scale := flag.Float64("scale", 1, "fraction of the drive's size (1: a 256 MiB file and 4,000 small files)")
	rounds := flag.Int("rounds", 3, "runs of each case and side (medians are reported)")
	flag.Parse()
	if err := run(*scale, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "transferbench:", err)
		os.Exit(1)
	}
}

type jsResult struct {
	Seconds float64
	Files   int
	Bytes   int64
}

func jsCopy(args ...string) (time.Duration, error) {
	out, err := jsref.Command(context.Background(), "drive-copy.js", args...).Output()
	if err != nil {
		return 0, fmt.Errorf("drive-copy.js %v: %v", args, err)
	}
	var r jsResult
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("drive-copy.js: %v: %s", err, out)
	}
	return time.Duration(r.Seconds * float64(time.Second)), nil
}

func goRun(bin string, env []string, args ...string) (time.Duration, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("hyperfs %v: %v: %s", args, err, out)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(scale float64, rounds int) error {
	tmp, err := os.MkdirTemp("", "transferbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	jsDir, err := jsref.Dir()
	if err != nil {
		return err
	}
	bin := filepath.Join(tmp, "hyperfs")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(jsDir, "..", "..", "cmd", "hyperfs")).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, out)
	}
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(tmp, "xdg", "data"), "XDG_STATE_HOME="+filepath.Join(tmp, "xdg", "state"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "xdg", "config"), "XDG_RUNTIME_DIR="+filepath.Join(tmp, "xdg", "run"))
	big, small := int(256*scale)<<20, max(int(4000*scale), 10)
	drive := filepath.Join(tmp, "drive")
	fmt.Fprintf(os.Stderr, "writing the sample drive with JS: a %d MiB file and %d small files\n", big>>20, small)
	if out, err := jsref.Command(context.Background(), "drive-write.js", drive, "--big-size", fmt.Sprint(big), "--small", fmt.Sprint(small)).CombinedOutput(); err != nil {
		return fmt.Errorf("drive-write.js: %v: %s", err, out)
	}
	type row struct {
		name    string
		js, hfs []time.Duration
		jsNote  string
	}
	var rows []*row
	export := &row{name: "export the drive into a new folder"}
	again := &row{name: "export again into the same folder", jsNote: "JS rewrites every file; hyperfs skips unchanged ones"}
	imp := &row{name: "import the exported folder into a new drive"}
	rows = append(rows, export, again, imp)
	for r := range rounds {
		goOut, jsOut := filepath.Join(tmp, fmt.Sprint("go-out", r)), filepath.Join(tmp, fmt.Sprint("js-out", r))
		d, err := goRun(bin, env, "export", drive, goOut, "-q")
		if err != nil {
			return err
		}
		export.hfs = append(export.hfs, d)
		j, err := jsCopy("export", drive, jsOut)
		if err != nil {
			return err
		}
		export.js = append(export.js, j)
		if d, err = goRun(bin, env, "export", drive, goOut, "-q"); err != nil {
			return err
		}
		again.hfs = append(again.hfs, d)
		os.RemoveAll(jsOut) // drive-copy.js makes its folders and files anew
		if j, err = jsCopy("export", drive, jsOut); err != nil {
			return err
		}
		again.js = append(again.js, j)
		if d, err = goRun(bin, env, "import", goOut, "--storage", filepath.Join(tmp, fmt.Sprint("go-import", r)), "-q"); err != nil {
			return err
		}
		imp.hfs = append(imp.hfs, d)
		if j, err = jsCopy("import", jsOut, filepath.Join(tmp, fmt.Sprint("js-import", r))); err != nil {
			return err
		}
		imp.js = append(imp.js, j)
		fmt.Fprintf(os.Stderr, "round %d: export %s / %s, again %s / %s, import %s / %s (hyperfs / JS)\n", r,
			export.hfs[r].Round(time.Millisecond), export.js[r].Round(time.Millisecond), again.hfs[r].Round(time.Millisecond),
			again.js[r].Round(time.Millisecond), imp.hfs[r].Round(time.Millisecond), imp.js[r].Round(time.Millisecond))
		os.RemoveAll(jsOut)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tJS median\thyperfs median\thyperfs/JS speed\t\n")
	for _, r := range rows {
		jm, gm := median(r.js), median(r.hfs)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f×\t\n", r.name, jm.Round(time.Millisecond), gm.Round(time.Millisecond), float64(jm)/float64(gm))
	}
	tw.Flush()
	fmt.Printf("\nDrive: a %d MiB file, %d small files, folders, a symlink and a mounted drive, written by JS.\n", big>>20, small)
	fmt.Println("hyperfs: the whole process (start, open, copy, exit); JS: the copy alone (drive-copy.js), so the ratios lean towards JS.")
	fmt.Println(again.jsNote + ".")
	return nil
}
