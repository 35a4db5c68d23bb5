package wasim

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waServerSync"
	"google.golang.org/protobuf/proto"
)

// The server's side of app state ("syncd"): every account has one list of encrypted patches per
// collection. The server never holds the keys: it numbers the patches it accepts, keeps the records
// they leave behind (to build snapshots), hands out the patches after a version or a snapshot, and
// tells the account's other devices when a collection changed. Clients encode and check every MAC
// themselves (whatsmeow's appstate package on both ends).

// appStateCollections are the collections a WhatsApp account has (whatsmeow appstate.AllPatchNames).
var appStateCollections = appstate.AllPatchNames

// errAppStateConflict means a patch was written against an older version than the server's.
var errAppStateConflict = errors.New("app state version conflict")

// appStateStore is one account's app state. The zero value is empty and ready to use.
type appStateStore struct {
	lock        sync.Mutex
	collections map[appstate.WAPatchName]*appStateCollection
}

// appStateCollection is one collection: its patches in version order (patches[i] has version i+1),
// and the records they leave, by index MAC, for snapshots.
type appStateCollection struct {
	patches []*waServerSync.SyncdPatch
	records map[string]*waServerSync.SyncdRecord
	order   []string // index MACs in the order they were first set, for stable snapshots
}

// collectionLocked returns the named collection, creating it. The caller holds st's lock.
func (st *appStateStore) collectionLocked(name appstate.WAPatchName) *appStateCollection {
	if st.collections == nil {
		st.collections = make(map[appstate.WAPatchName]*appStateCollection)
	}
	col := st.collections[name]
	if col == nil {
		col = &appStateCollection{records: make(map[string]*waServerSync.SyncdRecord)}
		st.collections[name] = col
	}
	return col
}

// Version returns the collection's current version (0 when nothing was ever written).
func (st *appStateStore) Version(name appstate.WAPatchName) uint64 {
	st.lock.Lock()
	defer st.lock.Unlock()
	return uint64(len(st.collectionLocked(name).patches))
}

// put stores a patch the client wrote against version base. The server gives it version base+1 (the
// client left the version out and computed its MACs for base+1, whatsmeow appstate.EncodePatch). A
// base that is not the current version fails with errAppStateConflict and the patches the client
// is missing, which whatsmeow applies before it tries again.
func (st *appStateStore) put(name appstate.WAPatchName, base uint64, raw []byte) (uint64, []*waServerSync.SyncdPatch, error) {
	var patch waServerSync.SyncdPatch
	if err := proto.Unmarshal(raw, &patch); err != nil {
		return 0, nil, fmt.Errorf("failed to parse patch: %w", err)
	}
	st.lock.Lock()
	defer st.lock.Unlock()
	col := st.collectionLocked(name)
	current := uint64(len(col.patches))
	if base != current {
		if base > current {
			base = current
		}
		return current, slices.Clone(col.patches[base:]), errAppStateConflict
	}
	patch.Version = &waServerSync.SyncdVersion{Version: proto.Uint64(current + 1)}
	for _, mut := range patch.GetMutations() {
		index := string(mut.GetRecord().GetIndex().GetBlob())
		switch mut.GetOperation() {
		case waServerSync.SyncdMutation_SET:
			if _, ok := col.records[index]; !ok {
				col.order = append(col.order, index)
			}
			col.records[index] = mut.GetRecord()
		case waServerSync.SyncdMutation_REMOVE:
			delete(col.records, index)
			col.order = slices.DeleteFunc(col.order, func(i string) bool { return i == index })
		}
	}
	col.patches = append(col.patches, &patch)
	return current + 1, nil, nil
}

// since returns the patches after version from (all of them for 0).
func (st *appStateStore) since(name appstate.WAPatchName, from uint64) []*waServerSync.SyncdPatch {
	st.lock.Lock()
	defer st.lock.Unlock()
	col := st.collectionLocked(name)
	if from > uint64(len(col.patches)) {
		return nil
	}
	return slices.Clone(col.patches[from:])
}

// snapshot returns the collection's current records as a snapshot, or nil when it is empty. Its MAC
// and key are those of the latest patch: a patch's snapshot MAC covers exactly the state after it
// (whatsmeow appstate HashState.generateSnapshotMAC), which is what the snapshot holds.
func (st *appStateStore) snapshot(name appstate.WAPatchName) *waServerSync.SyncdSnapshot {
	st.lock.Lock()
	defer st.lock.Unlock()
	col := st.collectionLocked(name)
	if len(col.patches) == 0 {
		return nil
	}
	last := col.patches[len(col.patches)-1]
	records := make([]*waServerSync.SyncdRecord, 0, len(col.order))
	for _, index := range col.order {
		records = append(records, col.records[index])
	}
	return &waServerSync.SyncdSnapshot{
		Version: &waServerSync.SyncdVersion{Version: proto.Uint64(uint64(len(col.patches)))},
		Records: records,
		Mac:     last.GetSnapshotMAC(),
		KeyID:   last.GetKeyID(),
	}
}

// AppStateVersion reports the version of one of the account's app state collections on the server
// (critical_block, critical_unblock_low, regular_high, regular_low or regular): how many patches
// its devices have written to it.
func (a *Account) AppStateVersion(collection string) uint64 {
	return a.appState.Version(appstate.WAPatchName(collection))
}
