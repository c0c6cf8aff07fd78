// Command tlog-go follows a mimi-discovery transparency log through its C2SP tlog-tiles with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog, code the project did not write: it verifies the
// checkpoint, reads hash tiles through tlog.TileHashReader (which checks every tile against the
// signed root), proves and checks the inclusion of leaves from their entry bundles, and the
// consistency of an older signed checkpoint with the latest. It prints one JSON object and exits
// non-zero on any failure.
//
//	tlog-go -base http://127.0.0.1:8080/v1/log/tiles -key '<name>+<hash>+<base64>' \
//	  -leaf 0 -leaf 300 -old http://127.0.0.1:8080/v1/log/checkpoints/100
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type leafList []int64

func (l *leafList) String() string { return fmt.Sprint(*l) }
func (l *leafList) Set(s string) error {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return err
	}
	*l = append(*l, n)
	return nil
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// openCheckpoint verifies a signed checkpoint with note.Open and parses its body with
// tlog.ParseTree. That parser wants the sumdb origin line "go.sum database tree"; a C2SP
// checkpoint has the log's origin there instead, checked here, and the same size and root lines.
func openCheckpoint(text []byte, verifiers note.Verifiers, origin string) (tlog.Tree, error) {
	n, err := note.Open(text, verifiers)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("note.Open: %w", err)
	}
	first, rest, ok := strings.Cut(n.Text, "\n")
	if !ok || first != origin {
		return tlog.Tree{}, fmt.Errorf("checkpoint origin %q, want %q", first, origin)
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("tlog.ParseTree: %w", err)
	}
	return tree, nil
}

// tiles reads C2SP hash tiles over HTTP: Go's sumdb path is tile/<H>/<L>/<N>[.p/<W>], the
// C2SP one is the same without the height (always 8).
type tiles struct{ base string }

func (t tiles) Height() int { return 8 }

func (t tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		url := t.base + "/tile/" + strings.TrimPrefix(tile.Path(), "tile/8/")
		data, err := get(url)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (t tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entry reads leaf `index` from its entry bundle in the tree of `size` leaves.
func entry(base string, index, size int64) ([]byte, error) {
	n := index / 256
	w := size - n*256
	if w > 256 {
		w = 256
	}
	tile := tlog.Tile{H: 8, L: 0, N: n, W: int(w)}
	url := base + "/tile/entries/" + strings.TrimPrefix(tile.Path(), "tile/8/0/")
	data, err := get(url)
	if err != nil {
		return nil, err
	}
	for i := int64(0); i < w; i++ {
		if len(data) < 2 {
			return nil, errors.New("entry bundle too short")
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+l {
			return nil, errors.New("entry bundle too short")
		}
		if i == index%256 {
			return data[2 : 2+l], nil
		}
		data = data[2+l:]
	}
	return nil, errors.New("entry bundle too short")
}

type result struct {
	OK           bool     `json:"ok"`
	Origin       string   `json:"origin,omitempty"`
	Size         int64    `json:"size,omitempty"`
	Root         []byte   `json:"root,omitempty"`
	Included     []int64  `json:"included"`
	Consistent   *int64   `json:"consistentFrom,omitempty"`
	Error        string   `json:"error,omitempty"`
	RecordHashes [][]byte `json:"recordHashes,omitempty"`
}

func run(res *result) error {
	base := flag.String("base", "", "tlog-tiles prefix URL (…/v1/log/tiles)")
	key := flag.String("key", "", "checkpoint verifier key, <name>+<hash>+<base64(0x01 || ed25519 key)>")
	old := flag.String("old", "", "URL of an older signed checkpoint to prove consistent with the latest")
	var leaves leafList
	flag.Var(&leaves, "leaf", "leaf index to prove included (repeatable)")
	flag.Parse()
	if *base == "" || *key == "" {
		return errors.New("need -base and -key")
	}
	verifier, err := note.NewVerifier(*key)
	if err != nil {
		return fmt.Errorf("note.NewVerifier: %w", err)
	}
	verifiers := note.VerifierList(verifier)
	origin := verifier.Name()
	text, err := get(*base + "/checkpoint")
	if err != nil {
		return err
	}
	tree, err := openCheckpoint(text, verifiers, origin)
	if err != nil {
		return err
	}
	res.Origin, res.Size, res.Root = origin, tree.N, tree.Hash[:]
	hashes := tlog.TileHashReader(tree, tiles{*base})
	for _, i := range leaves {
		data, err := entry(*base, i, tree.N)
		if err != nil {
			return fmt.Errorf("leaf %d: %w", i, err)
		}
		rh := tlog.RecordHash(data)
		proof, err := tlog.ProveRecord(tree.N, i, hashes)
		if err != nil {
			return fmt.Errorf("tlog.ProveRecord(%d): %w", i, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, i, rh); err != nil {
			return fmt.Errorf("tlog.CheckRecord(%d): %w", i, err)
		}
		res.Included = append(res.Included, i)
		res.RecordHashes = append(res.RecordHashes, rh[:])
	}
	if *old != "" {
		text, err := get(*old)
		if err != nil {
			return err
		}
		older, err := openCheckpoint(text, verifiers, origin)
		if err != nil {
			return fmt.Errorf("older checkpoint: %w", err)
		}
		proof, err := tlog.ProveTree(tree.N, older.N, hashes)
		if err != nil {
			return fmt.Errorf("tlog.ProveTree: %w", err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, older.N, older.Hash); err != nil {
			return fmt.Errorf("tlog.CheckTree: %w", err)
		}
		res.Consistent = &older.N
	}
	return nil
}

func main() {
	res := result{Included: []int64{}}
	err := run(&res)
	if err != nil {
		res.Error = err.Error()
	}
	res.OK = err == nil
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(res)
	os.Stdout.Write(buf.Bytes())
	if err != nil {
		os.Exit(1)
	}
}
