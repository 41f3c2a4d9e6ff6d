// clientv3check drives one etcd endpoint with etcd's own Go client (clientv3 3.4, built offline from Debian's
// sources) and prints a transcript of what it saw, one line per step, leaving out what legitimately differs between
// servers (lease and member IDs, sizes, timings). The jest test runs it against statecar and a real etcd and
// compares the two transcripts line by line.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

var endpoint = flag.String("endpoint", "127.0.0.1:2379", "etcd endpoint")

func out(step string, v ...interface{}) { fmt.Println(append([]interface{}{step + ":"}, v...)...) }

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func client(user, password string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{*endpoint},
		DialTimeout: 10 * time.Second,
		Username:    user,
		Password:    password,
		LogConfig:   nil,
	})
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := client("", "")
	if err != nil {
		out("dial", errText(err))
		os.Exit(1)
	}
	defer c.Close()

	// KV and Watch.
	first, _ := c.Put(ctx, "w/a", "1")
	base := first.Header.Revision
	c.Put(ctx, "w/b", "2")
	c.Delete(ctx, "w/a")
	c.Txn(ctx).If(clientv3.Compare(clientv3.Version("w/b"), "=", 1)).Then(clientv3.OpPut("w/c", "3"), clientv3.OpPut("w/d", "4")).Commit()
	wctx, wcancel := context.WithCancel(ctx)
	wch := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(base), clientv3.WithPrevKV())
	seen := 0
	for resp := range wch {
		for _, ev := range resp.Events {
			prev := ""
			if ev.PrevKv != nil {
				prev = string(ev.PrevKv.Value)
			}
			out("watch", ev.Type, string(ev.Kv.Key), string(ev.Kv.Value), ev.Kv.ModRevision-base, "prev="+prev)
			seen++
		}
		if seen >= 5 {
			break
		}
	}
	wcancel()

	// HashKV over the same history (before any lease IDs are written into keys and values).
	rev, _ := c.Get(ctx, "w/b")
	out("hashkv-rev", rev.Header.Revision-base)
	hk, err := c.HashKV(ctx, *endpoint, rev.Header.Revision)
	if err == nil {
		out("hashkv", hk.Hash, "compact", hk.CompactRevision)
	} else {
		out("hashkv", errText(err))
	}

	// Concurrency recipes: a mutex handed over between two sessions, an election.
	s1, _ := concurrency.NewSession(c, concurrency.WithTTL(30))
	s2, _ := concurrency.NewSession(c, concurrency.WithTTL(30))
	m1 := concurrency.NewMutex(s1, "lock/")
	m2 := concurrency.NewMutex(s2, "lock/")
	out("lock1", errText(m1.Lock(ctx)))
	got := make(chan error, 1)
	go func() { got <- m2.Lock(ctx) }()
	select {
	case <-got:
		out("lock2-before-unlock", "acquired (wrong)")
	case <-time.After(500 * time.Millisecond):
		out("lock2-before-unlock", "waiting")
	}
	out("unlock1", errText(m1.Unlock(ctx)))
	out("lock2", errText(<-got))
	out("unlock2", errText(m2.Unlock(ctx)))
	e1 := concurrency.NewElection(s1, "elect/")
	out("campaign", errText(e1.Campaign(ctx, "alpha")))
	ld, err := e1.Leader(ctx)
	if err == nil {
		out("leader", string(ld.Kvs[0].Value))
	} else {
		out("leader", errText(err))
	}
	out("proclaim", errText(e1.Proclaim(ctx, "beta")))
	ld, _ = concurrency.NewElection(s2, "elect/").Leader(ctx)
	out("leader-after-proclaim", string(ld.Kvs[0].Value))
	out("resign", errText(e1.Resign(ctx)))
	_, err = concurrency.NewElection(s2, "elect/").Leader(ctx)
	out("leader-after-resign", errText(err))
	s1.Close()
	s2.Close()

	// Maintenance.
	rev, _ = c.Get(ctx, "w/b")
	st, err := c.Status(ctx, *endpoint)
	if err == nil {
		out("status", "leader-is-self", st.Leader == st.Header.MemberId, "errors", len(st.Errors))
	} else {
		out("status", errText(err))
	}
	_, err = c.HashKV(ctx, *endpoint, rev.Header.Revision+1000)
	out("hashkv-future", errText(err))
	al, err := c.AlarmList(ctx)
	out("alarms", errText(err), len(al.Alarms))
	_, err = c.Defragment(ctx, *endpoint)
	out("defragment", errText(err))
	_, err = c.MoveLeader(ctx, st.Header.MemberId)
	out("move-leader-self", errText(err))
	_, err = c.MoveLeader(ctx, 12345)
	out("move-leader-other", errText(err))
	rc, err := c.Snapshot(ctx)
	if err == nil {
		n, _ := io.Copy(ioutil.Discard, rc)
		out("snapshot", "size%512", n%512)
	} else {
		out("snapshot", errText(err))
	}
	_, err = c.MemberPromote(ctx, st.Header.MemberId)
	out("member-promote-self", errText(err))
	_, err = c.MemberRemove(ctx, 12345)
	out("member-remove-unknown", errText(err))

	// Auth.
	out("user-add-root", errText(try(c.UserAdd(ctx, "root", "rootpw"))))
	out("user-grant-root", errText(try(c.UserGrantRole(ctx, "root", "root"))))
	out("user-add-bob", errText(try(c.UserAdd(ctx, "bob", "bobpw"))))
	out("role-add", errText(try(c.RoleAdd(ctx, "ro"))))
	out("role-grant", errText(try(c.RoleGrantPermission(ctx, "ro", "w/", clientv3.GetPrefixRangeEnd("w/"), clientv3.PermissionType(clientv3.PermRead)))))
	out("user-grant-bob", errText(try(c.UserGrantRole(ctx, "bob", "ro"))))
	out("auth-enable-missing-root-role", errText(try(c.UserRevokeRole(ctx, "root", "root"))))
	_, err = c.AuthEnable(ctx)
	out("auth-enable-no-root-role", errText(err))
	out("regrant", errText(try(c.UserGrantRole(ctx, "root", "root"))))
	_, err = c.AuthEnable(ctx)
	out("auth-enable", errText(err))
	_, err = c.Get(ctx, "w/b")
	out("anon-get", errText(err))
	_, err = client("bob", "wrong")
	out("bad-password", errText(err))
	bob, err := client("bob", "bobpw")
	out("bob-dial", errText(err))
	if err == nil {
		r, err := bob.Get(ctx, "w/b")
		if err == nil {
			out("bob-get", string(r.Kvs[0].Value))
		} else {
			out("bob-get", errText(err))
		}
		_, err = bob.Put(ctx, "w/b", "x")
		out("bob-put", errText(err))
		_, err = bob.Get(ctx, "other")
		out("bob-get-other", errText(err))
		bw := bob.Watch(ctx, "other")
		wr := <-bw
		out("bob-watch-other", wr.Canceled, errText(wr.Err()))
		_, err = bob.UserList(ctx)
		out("bob-user-list", errText(err))
		_, err = bob.Defragment(ctx, *endpoint)
		out("bob-defragment", errText(err))
		ug, err := bob.UserGet(ctx, "bob")
		if err == nil {
			out("bob-user-get-self", ug.Roles)
		} else {
			out("bob-user-get-self", errText(err))
		}
		bob.Close()
	}
	root, err := client("root", "rootpw")
	out("root-dial", errText(err))
	if err == nil {
		ul, err := root.UserList(ctx)
		if err == nil {
			out("root-user-list", ul.Users)
		}
		rg, err := root.RoleGet(ctx, "ro")
		if err == nil {
			for _, p := range rg.Perm {
				out("role-get", p.PermType, string(p.Key), string(p.RangeEnd))
			}
		}
		_, err = root.UserDelete(ctx, "root")
		out("delete-root", errText(err))
		_, err = root.AuthDisable(ctx)
		out("auth-disable", errText(err))
		root.Close()
	}
	_, err = c.Get(ctx, "w/b")
	out("anon-get-after-disable", errText(err))
}

func try(_ interface{}, err error) error { return err }
