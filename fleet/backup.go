package fleet

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// BackupRecord is the value one account had on one host before a fix or restore run wrote it: one
// JSON line of the backup file, appended and fsynced before the write.
type BackupRecord struct {
	RunID   string    `json:"run_id"`
	Command string    `json:"command"` // fix or restore
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	Address string    `json:"address,omitempty"`
	Account string    `json:"account"`
	Key     string    `json:"key"`
	Value   string    `json:"value"`
	// Absent: the value did not exist (a restore deletes it); Previous is then empty.
	Absent   bool   `json:"absent"`
	Previous string `json:"previous,omitempty"` // the previous bytes in upper-case hex
	// New is what the run is about to write, in upper-case hex; "" when it deletes (a restore of a
	// value that was absent). See WrittenBytes.
	New      string `json:"new,omitempty"`
	HostFile string `json:"host_file,omitempty"`
}

// PreviousBytes returns the recorded previous value (nil when it was absent).
func (r BackupRecord) PreviousBytes() ([]byte, error) {
	if r.Absent {
		return nil, nil
	}
	b, err := hex.DecodeString(r.Previous)
	if err != nil {
		return nil, fmt.Errorf("%w: host %s account %s: previous: %w", ErrBackupFile, r.Host, r.Account, err)
	}
	return b, nil
}

// WrittenBytes returns what the run wrote (or was about to write): nil when it deleted the value.
// known is false when the record cannot say: a fix record without new bytes (fix runs always record
// them; such a record was not written by dcproxy). A restore record without new bytes deleted the
// value. The error wraps ErrBackupFile when New is not hex.
func (r BackupRecord) WrittenBytes() (b []byte, known bool, err error) {
	if r.New == "" {
		return nil, r.Command == "restore", nil
	}
	b, err = hex.DecodeString(r.New)
	if err != nil {
		return nil, false, fmt.Errorf("%w: host %s account %s: new: %w", ErrBackupFile, r.Host, r.Account, err)
	}
	return b, true, nil
}

// AuditEntry is one line of the audit log: one write (or rollback write) on one host and its outcome.
type AuditEntry struct {
	Time     time.Time `json:"time"`
	RunID    string    `json:"run_id"`
	Command  string    `json:"command"`
	Operator string    `json:"operator"` // local OS user and the connecting account
	Host     string    `json:"host"`
	Account  string    `json:"account"`
	Key      string    `json:"key"`
	Value    string    `json:"value"`
	Action   string    `json:"action"` // write, delete, rollback
	Old      string    `json:"old"`    // hex, or "absent"
	New      string    `json:"new"`    // hex, or "absent"
	Outcome  string    `json:"outcome"`
	Message  string    `json:"message,omitempty"`
}

// ErrBackupFile is wrapped by errors about the content of a backup file.
var ErrBackupFile = errors.New("bad backup file")

// Journal is an append-only JSON-lines file (the backup file, the audit log). Every Append is one
// write of one line followed by fsync, so a record that Append reported written survives a crash or
// a kill of the process. It is safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// ErrJournalMode is wrapped by OpenJournal's error for an existing file that group or others can
// read (unix only): its records hold the hosts' registry values and who changed them.
var ErrJournalMode = errors.New("journal file is readable by others")

// OpenJournal opens (creating it and its directory, mode 0700/0600) path for appending. A file or
// directory it creates is made durable: the directory that holds it is fsynced, so the first record
// survives a crash too. An existing file that group or others can read is refused (error wrapping
// ErrJournalMode that names the file and the chmod to run; not checked on Windows, where the ACL
// decides and os.FileInfo does not show it).
func OpenJournal(path string) (*Journal, error) {
	if path == "" {
		return nil, errors.New("journal: no file name")
	}
	if err := mkdirDurable(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	created := false
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	switch {
	case err == nil:
		created = true
	case errors.Is(err, os.ErrExist):
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if !created {
		st, err := f.Stat()
		if err == nil {
			err = checkJournalMode(path, st)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	} else if err := syncDirFunc(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{f: f, path: path}, nil
}

// CheckJournalFile returns an error wrapping ErrJournalMode when path exists and group or others can
// read it (unix; nil on Windows), naming the file and the chmod that fixes it; nil when it does not
// exist. Other stat errors are returned as they are.
func CheckJournalFile(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return checkJournalMode(path, st)
}

// syncDirFunc is syncDir; tests replace it to see which directories are fsynced.
var syncDirFunc = syncDir

// mkdirDurable creates dir and its missing parents (mode 0700) and fsyncs the parent of every
// directory it created.
func mkdirDurable(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range missing {
		if err := syncDirFunc(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Path returns the file name the journal was opened with.
func (j *Journal) Path() string { return j.path }

// Append writes v as one JSON line and fsyncs the file. It returns an error when the line may not be
// on disk; the caller must then not perform the action the line records.
func (j *Journal) Append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// Close closes the file; it is safe to call more than once.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// maxRecordLine bounds one line of a backup file.
const maxRecordLine = 1 << 20

// ParseBackups reads a backup file. Blank lines are skipped; a last line without its newline is a
// write torn by a crash and is ignored (its write never happened: records are written before the
// values). Any other line that is not a record with run id, host, account, key and value, or whose
// previous value is not hex, is an error wrapping ErrBackupFile that names the line.
func ParseBackups(r io.Reader) ([]BackupRecord, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var out []BackupRecord
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read backup file: %w", err)
		}
		torn := err == io.EOF && len(line) > 0
		if len(line) > maxRecordLine {
			return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrBackupFile, n, maxRecordLine)
		}
		if len(bytes.TrimSpace(line)) > 0 && !torn {
			var rec BackupRecord
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&rec); derr != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrBackupFile, n, derr)
			}
			if rec.RunID == "" || rec.Host == "" || rec.Account == "" || rec.Key == "" {
				return nil, fmt.Errorf("%w: line %d: record without run_id, host, account or key", ErrBackupFile, n)
			}
			if rec.Absent && rec.Previous != "" {
				return nil, fmt.Errorf("%w: line %d: record is absent but has previous bytes", ErrBackupFile, n)
			}
			if _, perr := rec.PreviousBytes(); perr != nil {
				return nil, fmt.Errorf("line %d: %w", n, perr)
			}
			if _, _, nerr := rec.WrittenBytes(); nerr != nil {
				return nil, fmt.Errorf("line %d: %w", n, nerr)
			}
			out = append(out, rec)
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

// ReadBackups reads and parses a backup file (see ParseBackups).
func ReadBackups(path string) ([]BackupRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := ParseBackups(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// LatestRun returns the id of the last run of command in recs ("" when there is none).
func LatestRun(recs []BackupRecord, command string) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Command == command {
			return recs[i].RunID
		}
	}
	return ""
}

// NewRunID returns a run id: the UTC start time and 6 random hex digits, e.g. 20261127T020000Z-1a2b3c.
// It is safe to use in a Windows file name and on a cmd.exe line.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// hexOrAbsent renders a value for the audit log.
func hexOrAbsent(b []byte) string {
	if b == nil {
		return "absent"
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
