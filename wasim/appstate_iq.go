package wasim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waServerSync"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/cbcutil"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"google.golang.org/protobuf/proto"
)

// handleAppStateIQ answers <iq xmlns="w:sync:app:state" type="set"><sync><collection …/></sync>, the
// IQ of whatsmeow's fetchAppStatePatches and sendAppState. Each collection either carries a <patch>
// to store (answered with the new version, or a 409 conflict with the missing patches) or asks for
// what changed after its version (or for a snapshot with return_snapshot="true"). The answer has
// one <collection> per requested one, in order.
func (c *conn) handleAppStateIQ(node *waBinary.Node, sync *waBinary.Node) {
	s := c.srv
	s.stateLock.Lock()
	writer := c.dev
	s.stateLock.Unlock()
	if writer == nil || sync.Tag != "sync" {
		c.send(iqError(node, 400, "bad-request"))
		return
	}
	acct := writer.acct
	var answers []waBinary.Node
	var changed []waBinary.Node
	for _, col := range sync.GetChildrenByTag("collection") {
		ag := col.AttrGetter()
		name := appstate.WAPatchName(ag.String("name"))
		version, _ := ag.GetUint64("version", false)
		wantSnapshot := ag.OptionalBool("return_snapshot")
		if !validCollection(name) {
			answers = append(answers, collectionError(name, 400, "bad-request"))
			continue
		}
		if patch, ok := col.GetOptionalChildByTag("patch"); ok {
			raw, _ := patch.Content.([]byte)
			newVersion, missing, err := acct.appState.put(name, version, raw)
			switch {
			case errors.Is(err, errAppStateConflict):
				c.log.Debug().Str("collection", string(name)).Uint64("client_version", version).Uint64("version", newVersion).
					Msg("App state write against an old version, answering 409 with the missing patches")
				answer := collectionError(name, 409, "conflict")
				answer.Content = append(answer.Content.([]waBinary.Node), patchesNode(missing))
				answers = append(answers, answer)
			case err != nil:
				answers = append(answers, collectionError(name, 400, "bad-request"))
			default:
				c.log.Debug().Str("collection", string(name)).Uint64("version", newVersion).Msg("Stored app state patch")
				node := waBinary.Node{Tag: "collection", Attrs: waBinary.Attrs{"name": string(name), "version": newVersion}}
				answers = append(answers, node)
				changed = append(changed, node)
			}
			continue
		}
		answer, err := s.appStateAnswer(acct, name, version, wantSnapshot)
		if err != nil {
			c.log.Warn().Err(err).Str("collection", string(name)).Msg("Failed to build app state answer")
			answers = append(answers, collectionError(name, 500, "internal-server-error"))
			continue
		}
		answers = append(answers, answer)
	}
	c.send(iqResult(node, waBinary.Node{Tag: "sync", Content: answers}))
	if len(changed) > 0 {
		s.notifyAppStateChange(acct, writer, changed)
	}
}

func validCollection(name appstate.WAPatchName) bool {
	for _, known := range appStateCollections {
		if known == name {
			return true
		}
	}
	return false
}

func collectionError(name appstate.WAPatchName, code int, text string) waBinary.Node {
	return waBinary.Node{
		Tag:     "collection",
		Attrs:   waBinary.Attrs{"name": string(name), "type": "error"},
		Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": fmt.Sprint(code), "text": text}}},
	}
}

func patchesNode(patches []*waServerSync.SyncdPatch) waBinary.Node {
	nodes := make([]waBinary.Node, 0, len(patches))
	for _, patch := range patches {
		raw, err := proto.Marshal(patch)
		if err == nil {
			nodes = append(nodes, waBinary.Node{Tag: "patch", Content: raw})
		}
	}
	return waBinary.Node{Tag: "patches", Content: nodes}
}

// appStateAnswer is a fetch's <collection>: a snapshot of the current state when the client asked
// for one and there is anything, else the patches after the client's version.
func (s *Server) appStateAnswer(acct *Account, name appstate.WAPatchName, version uint64, wantSnapshot bool) (waBinary.Node, error) {
	attrs := waBinary.Attrs{"name": string(name), "has_more_patches": false}
	if wantSnapshot {
		if snap := acct.appState.snapshot(name); snap != nil {
			ref, err := s.publishSnapshot(snap)
			if err != nil {
				return waBinary.Node{}, err
			}
			attrs["version"] = snap.GetVersion().GetVersion()
			return waBinary.Node{Tag: "collection", Attrs: attrs, Content: []waBinary.Node{{Tag: "snapshot", Content: ref}}}, nil
		}
		version = 0
	}
	patches := acct.appState.since(name, version)
	attrs["version"] = version + uint64(len(patches))
	return waBinary.Node{Tag: "collection", Attrs: attrs, Content: []waBinary.Node{patchesNode(patches)}}, nil
}

// publishSnapshot stores a snapshot as an encrypted media blob, as WhatsApp hands snapshots out: the
// answer holds an ExternalBlobReference that whatsmeow downloads and decrypts with the "WhatsApp App
// State Keys" media keys (whatsmeow download.go getMediaKeys, validateMedia).
func (s *Server) publishSnapshot(snap *waServerSync.SyncdSnapshot) ([]byte, error) {
	plaintext, err := proto.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal snapshot: %w", err)
	}
	mediaKey := make([]byte, 32)
	_, _ = rand.Read(mediaKey)
	expanded := hkdfutil.SHA256(mediaKey, nil, []byte(whatsmeow.MediaAppState), 112)
	iv, cipherKey, macKey := expanded[:16], expanded[16:48], expanded[48:80]
	ciphertext, err := cbcutil.Encrypt(cipherKey, iv, plaintext)
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt snapshot: %w", err)
	}
	mac := hmac.New(sha256.New, macKey)
	mac.Write(iv)
	mac.Write(ciphertext)
	file := append(ciphertext, mac.Sum(nil)[:10]...)
	fileSHA, encSHA := sha256.Sum256(plaintext), sha256.Sum256(file)
	directPath, key := newDirectPath("md-app-state")
	s.media.lock.Lock()
	s.media.blobs[key] = &mediaBlob{data: file, encSHA256: encSHA, mmsType: "md-app-state", snapshot: true}
	s.media.lock.Unlock()
	return proto.Marshal(&waServerSync.ExternalBlobReference{
		MediaKey:      mediaKey,
		DirectPath:    proto.String(directPath),
		FileSHA256:    fileSHA[:],
		FileEncSHA256: encSHA[:],
		FileSizeBytes: proto.Uint64(uint64(len(file))),
	})
}

// appStateSnapshotCount is how many app state snapshots the server has published.
func (s *Server) appStateSnapshotCount() int {
	s.media.lock.Lock()
	defer s.media.lock.Unlock()
	n := 0
	for _, blob := range s.media.blobs {
		if blob.snapshot {
			n++
		}
	}
	return n
}

// notifyAppStateChange queues <notification type="server_sync"> with the changed collections for
// every device of the account except the writer; whatsmeow's handleAppStateNotification then
// fetches the patches after its version.
func (s *Server) notifyAppStateChange(acct *Account, writer *device, collections []waBinary.Node) {
	s.stateLock.Lock()
	defer s.stateLock.Unlock()
	for _, id := range acct.sortedDeviceIDs() {
		dev := acct.devices[id]
		if dev == writer {
			continue
		}
		s.enqueueLocked(dev, waBinary.Node{
			Tag:     "notification",
			Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "server_sync", "id": s.nextID(), "t": fmt.Sprint(time.Now().Unix())},
			Content: collections,
		})
	}
}
