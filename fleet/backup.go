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
// a kill of the process. It is safe for concurrent use, and dcproxy processes appending to the same
// file take an advisory lock on it (flock; LockFileEx on Windows) for each append.
//
// A journal never keeps a partial line: OpenJournal cuts a torn last line (a write cut short by a
// full disk, a kill or a power loss) into a side file, and a failed Append truncates the file back
// to its size before the write, so the next record always starts on a line of its own.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	torn TornTail
}

// TornTail describes the partial last line OpenJournal found and moved out of the journal.
type TornTail struct {
	SideFile string // <journal>.torn-<UTC time>: the bytes cut, mode 0600, fsynced
	Bytes    int64  // how many bytes were cut
}

// ErrJournalMode is wrapped by OpenJournal's error for an existing file that group or others can
// read (unix only): its records hold the hosts' registry values and who changed them.
var ErrJournalMode = errors.New("journal file is readable by others")

// OpenJournal opens (creating it and its directory, mode 0700/0600) path for appending. A file or
// directory it creates is made durable: the directory that holds it is fsynced, so the first record
// survives a crash too. An existing file that group or others can read is refused (error wrapping
// ErrJournalMode that names the file and the chmod to run; not checked on Windows, where the ACL
// decides and os.FileInfo does not show it).
//
// An existing file that does not end in a newline ends in a torn write: OpenJournal copies the bytes
// after the last newline to a side file next to it (see TornTail; created 0600 and fsynced with its
// directory before anything is cut), then truncates the journal to its last complete line and fsyncs
// it. Journal.Torn reports what was cut.
func OpenJournal(path string) (*Journal, error) {
	if path == "" {
		return nil, errors.New("journal: no file name")
	}
	if err := mkdirDurable(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	created := false
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|journalOpenFlags, 0o600)
	switch {
	case err == nil:
		created = true
	case errors.Is(err, os.ErrExist):
		f, err = os.OpenFile(path, journalOpenFlags, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{f: f, path: path}
	if created {
		if err := syncDirFunc(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		return j, nil
	}
	st, err := f.Stat()
	if err == nil {
		err = checkJournalMode(path, st)
	}
	if err == nil {
		err = j.repair()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil
}

// Torn returns the torn last line OpenJournal moved to a side file (zero when the file ended cleanly).
func (j *Journal) Torn() TornTail { return j.torn }

// repair cuts a torn last line off the journal (see OpenJournal); it holds the file lock.
func (j *Journal) repair() error {
	unlock, err := lockFile(j.f)
	if err != nil {
		return fmt.Errorf("%s: lock: %w", j.path, err)
	}
	defer unlock()
	rf, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer rf.Close()
	st, err := rf.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	keep, err := completeLines(rf, size)
	if err != nil || keep == size {
		return err
	}
	side, err := saveTorn(j.path, io.NewSectionReader(rf, keep, size-keep))
	if err != nil {
		return fmt.Errorf("%s: saving the torn last line (%d bytes) before cutting it: %w", j.path, size-keep, err)
	}
	if err := rf.Truncate(keep); err != nil {
		return fmt.Errorf("%s: cutting the torn last line (saved in %s): %w", j.path, side, err)
	}
	if err := rf.Sync(); err != nil {
		return fmt.Errorf("%s: fsync after cutting the torn last line (saved in %s): %w", j.path, side, err)
	}
	j.torn = TornTail{SideFile: side, Bytes: size - keep}
	return nil
}

// completeLines returns the length of the file's prefix that ends with its last newline (0 when it
// has none), reading backwards from size in blocks.
func completeLines(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64*1024)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !(errors.Is(err, io.EOF) && start+int64(len(b)) <= size) {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// nowFunc stamps side files; tests replace it.
var nowFunc = time.Now

// saveTorn copies r to a new file <journal>.torn-<UTC time> (mode 0600, fsynced, its directory
// fsynced) and returns its name.
func saveTorn(journal string, r io.Reader) (string, error) {
	base := journal + ".torn-" + nowFunc().UTC().Format("20060102T150405.000000000Z")
	var f *os.File
	var err error
	name := base
	for i := 2; ; i++ {
		f, err = os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if !errors.Is(err, os.ErrExist) || i > 100 {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDirFunc(filepath.Dir(name))
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
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
// on disk; the caller must then not perform the action the line records. After a failed write or
// fsync the file is truncated back to its size before the write (and fsynced), so a partial line
// never joins the next record; should that truncation fail too, the error says so and the next
// OpenJournal cuts the partial line.
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
	unlock, err := lockFile(j.f)
	if err != nil {
		return fmt.Errorf("journal %s: lock: %w", j.path, err)
	}
	defer unlock()
	st, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	size := st.Size()
	what := "write"
	if err = appendFunc(j.f, b, size); err == nil {
		if err = j.f.Sync(); err == nil {
			return nil
		}
		what = "fsync"
	}
	if terr := truncateJournal(j.f, size); terr != nil {
		return fmt.Errorf("journal %s: %s: %w (truncating back to %d bytes failed too: %v; the next open cuts the partial line)", j.path, what, err, size, terr)
	}
	return fmt.Errorf("journal %s: %s: %w (truncated back to %d bytes)", j.path, what, err, size)
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

// appendFunc is appendAt; tests replace it to simulate a short write.
var appendFunc = appendAt

// truncateJournal cuts f back to size and fsyncs it. ftruncate works on an O_APPEND descriptor; on
// Windows the journal is opened read-write for this (journalOpenFlags).
func truncateJournal(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// maxRecordLine bounds one line of a backup file.
const maxRecordLine = 1 << 20

// BackupWarning is a damaged line of a backup file that a tolerant BackupReader skipped.
type BackupWarning struct {
	File   string // the file name; "" when the records came from a reader
	Line   int    // 1-based line number
	Reason string // what is wrong and what was kept
}

// String is "FILE line N: REASON" (or "line N: REASON" without a file name).
func (w BackupWarning) String() string {
	if w.File == "" {
		return fmt.Sprintf("line %d: %s", w.Line, w.Reason)
	}
	return fmt.Sprintf("%s line %d: %s", w.File, w.Line, w.Reason)
}

// BackupReader reads backup files. The zero value is strict: the first line that is not a valid
// record is an error wrapping ErrBackupFile that names the line.
//
// With Warn set it is tolerant: a damaged line (not JSON, not one record, an incomplete or invalid
// record, longer than 1 MiB) is skipped and reported to Warn, so one bad line does not cost every
// other backup. A line on which a torn write was joined by the next append (the torn bytes followed
// by a complete record, as versions that did not repair their journals wrote) yields that complete
// record, and Warn names the torn bytes dropped. An incomplete last line without its newline is a
// write whose fsync never returned: it is ignored in both modes (and reported to Warn). Nothing is
// skipped without a warning.
type BackupReader struct {
	Warn func(BackupWarning)
}

// ReadBackups reads and parses a backup file strictly (BackupReader{}.Read).
func ReadBackups(path string) ([]BackupRecord, error) { return BackupReader{}.Read(path) }

// ParseBackups parses a backup file strictly (BackupReader{}.Parse). Blank lines are skipped; a last
// line without its newline is a write torn by a crash and is ignored (its write never happened:
// records are written before the values). Any other line that is not exactly one record with run id,
// host, account, key and value, or whose previous or new value is not hex, is an error wrapping
// ErrBackupFile that names the line.
func ParseBackups(r io.Reader) ([]BackupRecord, error) { return BackupReader{}.Parse(r, "") }

// Read opens path and parses it (see Parse); errors name the file.
func (br BackupReader) Read(path string) ([]BackupRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := br.Parse(f, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// Parse reads the records of one backup file from r; name is the file name for warnings ("" if none).
func (br BackupReader) Parse(r io.Reader, name string) ([]BackupRecord, error) {
	rd := bufio.NewReaderSize(r, 64*1024)
	var out []BackupRecord
	warn := func(n int, format string, args ...any) {
		br.Warn(BackupWarning{File: name, Line: n, Reason: fmt.Sprintf(format, args...)})
	}
	for n := 1; ; n++ {
		line, size, eof, err := readLine(rd, maxRecordLine)
		if err != nil {
			return nil, fmt.Errorf("read backup file: %w", err)
		}
		switch {
		case eof && size > 0:
			if br.Warn != nil {
				warn(n, "incomplete last line (%d bytes without a newline: a write torn by a crash, or one still in progress): ignored", size)
			}
		case size > maxRecordLine:
			if br.Warn == nil {
				return nil, fmt.Errorf("%w: line %d: longer than %d bytes", ErrBackupFile, n, maxRecordLine)
			}
			warn(n, "longer than %d bytes (%d): skipped", maxRecordLine, size)
		case len(bytes.TrimSpace(line)) == 0:
		default:
			rec, perr := parseRecord(line)
			if perr == nil {
				out = append(out, rec)
				break
			}
			if br.Warn == nil {
				return nil, fmt.Errorf("line %d: %w", n, perr)
			}
			if at, rec, ok := salvage(line); ok {
				out = append(out, rec)
				warn(n, "the first %d bytes are a torn record (%v) joined by the next append: dropped; the record after them (run %s, host %s, account %s) was kept", at, perr, rec.RunID, rec.Host, rec.Account)
				break
			}
			warn(n, "damaged record skipped: %v", perr)
		}
		if eof {
			return out, nil
		}
	}
}

// readLine reads one line (with its newline) from r. Lines longer than limit are consumed but not
// kept: size is the full length and line is nil. eof is set on the last line (which then has no
// newline; it may be empty).
func readLine(r *bufio.Reader, limit int) (line []byte, size int, eof bool, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		size += len(frag)
		if size <= limit {
			line = append(line, frag...)
		} else {
			line = nil
		}
		switch {
		case err == nil:
			return line, size, false, nil
		case err == io.EOF:
			return line, size, true, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, 0, false, err
		}
	}
}

// parseRecord decodes one line that must hold exactly one valid record. Errors wrap ErrBackupFile.
func parseRecord(line []byte) (BackupRecord, error) {
	var rec BackupRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("%w: %v", ErrBackupFile, err)
	}
	if rest := bytes.TrimSpace(line[dec.InputOffset():]); len(rest) > 0 {
		return rec, fmt.Errorf("%w: %d bytes after the record", ErrBackupFile, len(rest))
	}
	if rec.RunID == "" || rec.Host == "" || rec.Account == "" || rec.Key == "" {
		return rec, fmt.Errorf("%w: record without run_id, host, account or key", ErrBackupFile)
	}
	if rec.Absent && rec.Previous != "" {
		return rec, fmt.Errorf("%w: record is absent but has previous bytes", ErrBackupFile)
	}
	if _, err := rec.PreviousBytes(); err != nil {
		return rec, err
	}
	if _, _, err := rec.WrittenBytes(); err != nil {
		return rec, err
	}
	return rec, nil
}

// recordStart is how every line Journal.Append writes for a BackupRecord begins (json.Marshal keeps
// the field order; a '"' inside a string value is always escaped, so this never occurs inside one).
var recordStart = []byte(`{"run_id":`)

// maxSalvage bounds the attempts salvage makes on one line.
const maxSalvage = 64

// salvage finds, in a line that is not one record, the first record start after byte 0 from which
// the rest of the line is exactly one valid record: what a torn write joined by the next append looks
// like. at is where that record starts.
func salvage(line []byte) (at int, rec BackupRecord, ok bool) {
	for off, tries := 1, 0; off < len(line) && tries < maxSalvage; tries++ {
		i := bytes.Index(line[off:], recordStart)
		if i < 0 {
			break
		}
		at = off + i
		if rec, err := parseRecord(line[at:]); err == nil {
			return at, rec, true
		}
		off = at + 1
	}
	return 0, BackupRecord{}, false
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
