package tests

import "time"

// The faults of each scenario. Each runs in the test's goroutine while the messages stream, and
// returns how many faults it injected.

// killBridge SIGKILLs the bridge form.kills times, spread over the window, restarting it each time.
func (r *faultRig) killBridge() int {
	every := r.form.window / time.Duration(r.form.kills+1)
	for range r.form.kills {
		pause(r.ctx, every)
		r.env.KillBridge()
		r.env.StartBridge()
	}
	return r.form.kills
}

// homeserverDown stops Dendrite for form.hsOutage while the contacts keep writing.
func (r *faultRig) homeserverDown() int {
	pause(r.ctx, r.form.window/4)
	r.env.StopDendrite()
	pause(r.ctx, r.form.hsOutage)
	r.env.StartDendrite()
	return 1
}

// whatsAppDown makes WhatsApp unreachable (every connection cut, new ones refused) for
// form.waOutage while the Matrix users keep writing. The bridge's reconnect backoff grows through
// the outage as it would through a longer one.
func (r *faultRig) whatsAppDown() int {
	pause(r.ctx, r.form.window/4)
	r.env.WA.SetOutage(true)
	pause(r.ctx, r.form.waOutage)
	r.env.WA.SetOutage(false)
	return 1
}

// databaseRestarts restarts the bridge's PostgreSQL form.dbRestarts times, alternating a fast stop
// (sessions cut) and an immediate one (as a crash), each down for a few seconds.
func (r *faultRig) databaseRestarts() int {
	every := r.form.window / time.Duration(r.form.dbRestarts+1)
	for i := range r.form.dbRestarts {
		pause(r.ctx, every)
		mode := "fast"
		if i%2 == 1 {
			mode = "immediate"
		}
		r.db.Stop(mode)
		pause(r.ctx, 3*time.Second)
		r.db.Start()
	}
	return r.form.dbRestarts
}

// connectionDrops cuts every bridge user's WhatsApp connection form.drops times, dropEvery apart.
func (r *faultRig) connectionDrops() int {
	n := 0
	for range r.form.drops {
		pause(r.ctx, r.form.dropEvery)
		for _, u := range r.users {
			if err := r.env.WA.DropConnections(u.acct.JID().User); err != nil {
				r.t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// allAtOnce overlaps every fault: connection drops, then the homeserver goes down, the database
// restarts and the bridge is killed while it is down, WhatsApp becomes unreachable as the
// homeserver comes back, and the bridge is killed once more during that outage.
func (r *faultRig) allAtOnce() int {
	n := 0
	for range 3 {
		pause(r.ctx, r.form.dropEvery)
		for _, u := range r.users {
			if err := r.env.WA.DropConnections(u.acct.JID().User); err != nil {
				r.t.Fatal(err)
			}
			n++
		}
	}
	r.env.StopDendrite()
	n++
	pause(r.ctx, r.form.hsOutage/4)
	r.db.Stop("immediate")
	r.env.KillBridge()
	n += 2
	pause(r.ctx, 5*time.Second)
	r.db.Start()
	pause(r.ctx, r.form.hsOutage/4)
	r.env.StartDendrite()
	r.env.StartBridge()
	r.env.WA.SetOutage(true)
	n++
	pause(r.ctx, r.form.waOutage/2)
	r.env.KillBridge()
	r.env.StartBridge()
	n++
	pause(r.ctx, r.form.waOutage/2)
	r.env.WA.SetOutage(false)
	return n
}

// homeserverDownAndDatabase (short form) stops Dendrite for form.hsOutage; meanwhile the database
// restarts once.
func (r *faultRig) homeserverDownAndDatabase() int {
	pause(r.ctx, r.form.window/4)
	r.env.StopDendrite()
	deadline := time.Now().Add(r.form.hsOutage)
	pause(r.ctx, r.form.hsOutage/3)
	r.db.Stop("fast")
	pause(r.ctx, 3*time.Second)
	r.db.Start()
	pause(r.ctx, time.Until(deadline))
	r.env.StartDendrite()
	return 2
}
