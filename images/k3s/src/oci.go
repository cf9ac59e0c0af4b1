package main

// `k3s oci-archive`: writes a single-layer OCI image layout tarball that
// `ctr images import` (and so the preload directory) accepts, from files on this machine.
// Used at image build time for the images Kubernetes runs itself (pause, CoreDNS,
// local-path-provisioner and its busybox helper), so none of them is ever pulled.
//
//   k3s oci-archive --out F.tar --name REF [--entrypoint /x] [--cmd a] [--env K=V] [--user U]
//                   [--file SRC:DST[:MODE]] [--symlink DST:TARGET] [--dir DST]

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

type ociEntry struct {
	kind, dst, src, target string
	mode                   int64
}

func ociArchive(args []string) error {
	var out, name, user string
	var entrypoint, cmd, env []string
	var entries []ociEntry
	for i := 0; i < len(args); i++ {
		k := args[i]
		if i+1 >= len(args) {
			return fmt.Errorf("%s needs a value", k)
		}
		i++
		v := args[i]
		switch k {
		case "--out":
			out = v
		case "--name":
			name = v
		case "--user":
			user = v
		case "--entrypoint":
			entrypoint = append(entrypoint, v)
		case "--cmd":
			cmd = append(cmd, v)
		case "--env":
			env = append(env, v)
		case "--file":
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				return fmt.Errorf("--file %s: want SRC:DST[:MODE]", v)
			}
			e := ociEntry{kind: "file", src: parts[0], dst: parts[1], mode: 0o755}
			if len(parts) > 2 {
				m, err := strconv.ParseInt(parts[2], 8, 64)
				if err != nil {
					return err
				}
				e.mode = m
			}
			entries = append(entries, e)
		case "--symlink":
			parts := strings.SplitN(v, ":", 2)
			if len(parts) != 2 {
				return fmt.Errorf("--symlink %s: want DST:TARGET", v)
			}
			entries = append(entries, ociEntry{kind: "symlink", dst: parts[0], target: parts[1]})
		case "--dir":
			entries = append(entries, ociEntry{kind: "dir", dst: v, mode: 0o755})
		default:
			return fmt.Errorf("unknown option %s", k)
		}
	}
	if out == "" || name == "" {
		return fmt.Errorf("--out and --name are required")
	}
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}

	// Layer: parents first, deterministic order and times.
	epoch := time.Unix(0, 0)
	dirs := map[string]bool{"tmp": true}
	for _, e := range entries {
		d := strings.TrimPrefix(path.Dir(path.Clean("/"+e.dst)), "/")
		for d != "" && d != "." {
			dirs[d] = true
			d = path.Dir(d)
			if d == "." {
				break
			}
		}
		if e.kind == "dir" {
			dirs[strings.TrimPrefix(path.Clean("/"+e.dst), "/")] = true
		}
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for _, d := range dirList {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].dst < entries[j].dst })
	for i := 1; i < len(entries); i++ {
		if path.Clean("/"+entries[i].dst) == path.Clean("/"+entries[i-1].dst) {
			return fmt.Errorf("%s given twice", entries[i].dst)
		}
	}
	for _, e := range entries {
		n := strings.TrimPrefix(path.Clean("/"+e.dst), "/")
		switch e.kind {
		case "file":
			b, err := os.ReadFile(e.src)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: e.mode, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		case "symlink":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: n, Linkname: e.target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	diffID := sha256.Sum256(layer.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := io.Copy(zw, &layer); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}

	imgCfg := map[string]interface{}{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config": map[string]interface{}{
			"Entrypoint": entrypoint, "Cmd": cmd, "Env": env, "User": user,
		},
		"rootfs":  map[string]interface{}{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
		"history": []map[string]string{{"created": epoch.UTC().Format(time.RFC3339), "created_by": "k3s oci-archive"}},
	}
	cfgB, _ := json.Marshal(imgCfg)
	blob := func(b []byte) (string, int) {
		h := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(h[:]), len(b)
	}
	cfgDigest, cfgSize := blob(cfgB)
	layerDigest, layerSize := blob(gz.Bytes())
	manifest := map[string]interface{}{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]interface{}{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": cfgSize},
		"layers": []map[string]interface{}{{
			"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layerSize,
		}},
	}
	manB, _ := json.Marshal(manifest)
	manDigest, manSize := blob(manB)
	tag := name[strings.LastIndex(name, ":")+1:]
	index := map[string]interface{}{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]interface{}{{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manDigest, "size": manSize,
			"platform":    map[string]string{"architecture": runtime.GOARCH, "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
		}},
	}
	idxB, _ := json.Marshal(index)

	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	ow := tar.NewWriter(f)
	write := func(n string, b []byte) error {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(b)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := ow.Write(b)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := ow.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, it := range []struct {
		n string
		b []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idxB},
		{"blobs/sha256/" + strings.TrimPrefix(cfgDigest, "sha256:"), cfgB},
		{"blobs/sha256/" + strings.TrimPrefix(layerDigest, "sha256:"), gz.Bytes()},
		{"blobs/sha256/" + strings.TrimPrefix(manDigest, "sha256:"), manB},
	} {
		if err := write(it.n, it.b); err != nil {
			return err
		}
	}
	if err := ow.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return err
	}
	fmt.Printf("%s -> %s (layer %d bytes gzip, manifest %s)\n", name, out, layerSize, manDigest)
	return nil
}
