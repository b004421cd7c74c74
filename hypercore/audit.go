package hypercore

import (
	"fmt"

	"github.com/hyperfs/hyperfs/hypercore/hcrypto"
)

// AuditReport counts the blocks an audit checked.
type AuditReport struct {
	Valid   uint64
	Invalid uint64
	// Bad lists the blocks whose stored bytes did not match their hash;
	// they were cleared from the bitfield and will be fetched again.
	Bad []uint64
}

// Audit rehashes every locally stored block against its tree node and
// clears the ones that do not match, as the reference's audit does.
func (f *Feed) Audit() (AuditReport, error) {
	var rep AuditReport
	length := f.Length()
	for i := uint64(0); i < length; i++ {
		if !f.Has(i) {
			continue
		}
		ok := f.auditBlock(i)
		f.mu.Lock()
		if ok {
			rep.Valid++
			f.verified.set(i, i+1)
		} else {
			f.verified.unset(i)
			rep.Invalid++
			rep.Bad = append(rep.Bad, i)
			f.bits.Set(i, false)
			if f.cache != nil {
				f.cache.DelBlock(f.cacheID, i)
			}
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(rep.Bad) > 0 {
		f.seq.set(0, 0)
	}
	if err := f.syncBitfieldLocked(); err != nil {
		return rep, err
	}
	return rep, nil
}

func (f *Feed) auditBlock(i uint64) bool {
	node, err := f.getNode(2 * i)
	if err != nil {
		return false
	}
	offset, err := f.offsetOf(i)
	if err != nil {
		return false
	}
	data := make([]byte, node.Size)
	if err := readFull(f.dataFile, data, int64(offset)); err != nil {
		return false
	}
	return hcrypto.LeafHash(data) == node.Hash
}

// Clear removes blocks [start, end) from local storage, giving their disk
// space back (the tree nodes stay, so the blocks can be verified again when
// fetched).
func (f *Feed) Clear(start, end uint64) error {
	if end <= start {
		return nil
	}
	f.mu.Lock()
	modified := false
	for i := start; i < end; i++ {
		if f.bits.Set(i, false) {
			modified = true
			f.verified.unset(i)
			if f.cache != nil {
				f.cache.DelBlock(f.cacheID, i)
			}
		}
	}
	if !modified {
		f.mu.Unlock()
		return nil
	}
	length, byteLength := f.length, f.byteLength
	err := f.syncBitfieldLocked()
	pending := f.eventsLocked(Event{Kind: EventClear, Start: start, Length: end - start})
	f.mu.Unlock()
	if err != nil {
		return err
	}
	from, err := f.offsetOf(start)
	if err != nil {
		return fmt.Errorf("clear: %w", err)
	}
	to := byteLength
	if end < length {
		if to, err = f.offsetOf(end); err != nil {
			return fmt.Errorf("clear: %w", err)
		}
	}
	if to > from {
		if err := f.dataFile.Delete(int64(from), int64(to-from)); err != nil {
			return fmt.Errorf("clear: %s: %w", f.dataFile.Name(), err)
		}
	}
	f.emit(pending)
	return nil
}
