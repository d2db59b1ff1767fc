/*
 * broker_raft — the broker's Raft driver: everything between the Raft core
 * (raft.h) and the broker's sockets and disk, for a broker started with
 * --cluster (docs/operations.md, "Running a cluster"). A broker alone has
 * no cluster (b->cluster is NULL) and none of this runs.
 *
 * Files:
 *   broker_raft.c       groups: start-up from raft.state and the log, every
 *                       input followed by its outbox (docs/raft.md, "The
 *                       driver's duties"), ticks, durability, shutdown
 *   broker_raft_net.c   the transport: one outbound connection per peer,
 *                       RAFT frames built per loop turn, inbound frames
 *                       dispatched by group
 *   broker_raft_admin.c the metadata group's proposals (create, delete,
 *                       alter, producer ids) and their parked answers; the
 *                       produce and fetch hooks of partition groups; route
 *   broker_raft_state.c the groups' states written by a thread to the
 *                       broker's raft.journal (raftjournal.h); the frames
 *                       that depend on them held until they are durable
 *   broker_raft_purge.c purges (DELETE_RECORDS) replicated as control
 *                       batches, applied at commit (docs/raft.md, "Purge")
 *
 * Groups. One for the metadata log (DIR/__meta/0, every broker a voter) and
 * one per partition this broker holds a replica of (its replicas the
 * voters), made when the topic's create record is applied. A partition's
 * group is found from its struct elog_partition (p->replication). Group ids
 * on the wire carry the topic's incarnation (the offset of its create
 * record), so a message for a deleted topic never reaches a new topic of
 * the same name.
 *
 * Order of effects for one input (raft.h's calling sequence): the hard
 * state and term cache are written to raft.journal (synced) before
 * any message of the outbox leaves: after the loop turn, for every group
 * that changed in it at once, by the state writer thread, the turn's
 * frames (and every later one) held until it is done (broker_raft_state.c);
 * log operations next (a follower's
 * appends validated, a truncation durable when it returns); then messages
 * (an APPEND's batches read from the log as stored); then commit, role,
 * term start. Messages for a peer are gathered into one RAFT frame per
 * loop turn and sent in the before-sleep hook.
 *
 * Everything runs on the loop thread but the raft.state writes.
 */
#ifndef ELOG_BROKER_RAFT_H
#define ELOG_BROKER_RAFT_H

#include <stdint.h>
#include <sys/socket.h>

#include "broker_int.h"
#include "raft.h"
#include "raftjournal.h"
#include "raftstate.h"
#include "raftwire.h"

/* Nested inputs while one outbox is handled (append_sent, log_written, ...). */
#define RAFT_OUTBOX_DEPTH 32
/* Bytes of batches one APPEND carries (at least one batch, whatever its size). */
#define RAFT_APPEND_BYTES (1u << 20)
/* Unsent bytes to one peer past which messages are dropped (Raft resends). */
#define RAFT_PEER_OUT_MAX (32u << 20)
/* A frame is closed and another begun past this many bytes. */
#define RAFT_FRAME_BYTES (4u << 20)
/* Reconnect backoff to a peer. */
#define RAFT_BACKOFF_MIN_MS 50
#define RAFT_BACKOFF_MAX_MS 1000
/* Dropped frames are warned about at most once per this interval. */
#define RAFT_WARN_INTERVAL_MS 5000
/* The metadata group's election timeout, in partition election timeouts. */
#define RAFT_META_ELECTION_FACTOR 3
/* Topics being created on first use at once, at most (more wait a turn). */
#define RAFT_AUTO_CREATING_MAX 16
/* Leaderships handed to preferred replicas in one round, at most. */
#define RAFT_BALANCE_BATCH 256
/* Proposals are refused past this many uncommitted offsets (docs/raft.md). */
#define RAFT_UNCOMMITTED_MAX 1000000
/* Purges of one partition a leader lets wait to commit at once (more: TIMEOUT). */
#define RAFT_PURGES_MAX 8

/* A purge batch in the log (broker_raft_purge.c). */
struct raft_purge {
	int64_t at;                     /* its offset */
	int64_t target;                 /* the log start it names */
};

struct raft_group {
	struct elog_cluster *k;
	struct elog_raft raft;
	struct elog_raftwire_group id;  /* topic points at the topic's name ("" for metadata) */
	struct elog_topic *topic;       /* NULL for the metadata group */
	struct elog_partition *p;       /* NULL for the metadata group */
	struct elog_partlog *log;
	char *dir;                      /* where raft.state lives */
	struct elog_raftstate saved;    /* as last written */
	int flush_never;                /* durable = written */
	int64_t durable_reported;       /* last elog_raft_log_durable */
	int state_failed;               /* raft.state could not be written: silent */
	int state_dirty;                /* on k->state_dirty: written before the turn's frames */
	struct raft_group *state_next;
	int led;                        /* leader at the last role change (its step-down is logged) */
	int64_t led_since_ms;           /* when it last became leader */
	int state_new;                  /* no state (raft.state or journal) when it started */
	int anchor_due;                 /* its raft.state is missing, damaged or from before the
	                                   journal: written next */
	int journal_due;                /* its raft.state is newer than its journal record */
	int empty;                      /* the log was empty at start, nothing since (net.c) */
	int restricted_empty;           /* restricted for rejoining empty (the log says why) */
	struct raft_purge *purges;      /* purge batches appended, not yet applied */
	uint32_t purge_count, purge_cap;
	int purge_failing;              /* the first note's purge failed (logged once) */
	struct raft_group *next;
};

struct raft_peer {
	struct elog_cluster *k;
	int32_t id;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int fd;                         /* -1: not connected */
	int connected;
	int64_t retry_at_ms, backoff_ms;
	struct elog_buf out;            /* frames to send, out_sent of them sent */
	size_t out_sent, out_ready;     /* out_ready: end of the last closed frame */
	struct elog_wire_w w;           /* the frame being built this turn */
	int frame_open;
	size_t count_pos;
	uint32_t count;
	uint64_t dropped;
	int heard;                      /* a frame came from this broker since the last tick */
	int announce;                   /* owed the leader hints of every group led here */
	int hello_owed;                 /* a new connection: its first frame opens with a HELLO */
	size_t out_free;                /* bytes of out that may be sent (<= out_ready): the
	                                   rest waits for a raft.state batch */
	size_t hold_mark;               /* out_ready when the batch being written began */
	int leaving_owed;               /* shutting down: a LEAVING ends this tick's last frame */
	int64_t leaving_until_ms;       /* it said it is shutting down: believed until then */
};

struct elog_cluster {
	struct elog_broker *b;
	int32_t self;
	struct raft_peer peers[ELOG_CLUSTER_BROKERS_MAX];
	uint32_t peer_count;
	struct raft_group *meta;
	struct raft_group *groups;      /* partition groups */
	struct elog_timer tick_timer;
	struct elog_raft_outbox outbox[RAFT_OUTBOX_DEPTH];
	uint32_t depth;
	struct elog_buf read;           /* an outbound APPEND's batches */
	struct elog_batch_validator validator;
	struct elog_raft_batch batches[ELOG_RAFT_APPEND_BATCHES_MAX];
	uint32_t batch_pos[ELOG_RAFT_APPEND_BATCHES_MAX]; /* of the APPEND being stepped */
	const uint8_t *batch_bytes;
	uint32_t frame_seq;
	int check_produces;             /* a commit moved or a leadership ended */
	int check_meta;                 /* the metadata commit moved */
	int kick_flusher;               /* a partition was written: a flusher round this turn */
	struct raft_group *state_dirty; /* groups whose raft.state may have changed this turn */
	struct raft_state_writer *writer; /* broker_raft_state.c */
	struct elog_raftjournal *journal; /* DIR/__meta/raft.journal */
	int journal_new;                /* the journal was missing at this start */
	struct elog_raftauth *auth;     /* NULL: no cluster_secret_file */
	int transferring;               /* SIGTERM: leaderships being handed over */
	int64_t balance_at_ms;          /* the next round of leaders_balance */
	int closing;                    /* elog_broker_raft_close: states are written clean */
	int serving;                    /* started: new groups' states are written by the thread */
	int replaced;                   /* the metadata group rejoined empty: groups made for
	                                   the topics it then learns keep the empty guard */
	int64_t transfer_deadline_ms;
	/* Topics created on first use, proposed and not yet applied (at most
	 * one proposal per name while it commits); broker_raft_admin.c. */
	struct {
		char name[ELOG_TOPIC_NAME_MAX + 1];
		int64_t offset;
	} auto_creating[RAFT_AUTO_CREATING_MAX];
};

/* broker_raft_route.c: elog_broker_route for a broker in a cluster. */
void elog_broker_raft_route(struct elog_broker *b, const struct elog_topic *t,
			    uint32_t partition, struct elog_route *out);
/* For METADATA's controller_id: the metadata group's leader, -1 when unknown. */
int32_t elog_broker_raft_controller(const struct elog_broker *b);

/* broker_raft.c */
int elog_broker_raft_open(struct elog_broker *b, struct elog_err *err);
int elog_broker_raft_start(struct elog_broker *b, struct elog_err *err);
void elog_broker_raft_close(struct elog_broker *b);
/* Before sleep: frames out, produce and metadata waiters checked. */
void elog_broker_raft_before_sleep(struct elog_broker *b);
/* After a flusher round: durable ends of the groups whose logs it moved. */
void elog_broker_raft_durability(struct elog_broker *b);
/* SIGTERM: hand leaderships over; 1 while that is under way. */
int elog_broker_raft_shutting_down(struct elog_broker *b);
/* A group for every partition of t this broker is a replica of. */
void elog_broker_raft_topic_change(void *ctx, enum elog_store_change what, struct elog_topic *t);
/* Handle an input's outbox (taken with raft_outbox_take). */
struct elog_raft_outbox *raft_outbox_take(struct elog_cluster *k);
void raft_outbox_done(struct raft_group *g, struct elog_raft_outbox *out);
void raft_group_log(struct raft_group *g, enum elog_log_level level, const char *msg,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
struct raft_group *raft_group_of(struct elog_cluster *k, const struct elog_raftwire_group *id);
/* After the leader appended [base, last] (a produce, a proposal, a term start). */
void raft_leader_appended(struct raft_group *g, int64_t base, int64_t last);
/* The log start moved up to `start` (<= commit): the core learns it. */
void raft_log_trimmed(struct raft_group *g, int64_t start);
/* Append, as leader, a control batch of the one record r; *base its
 * offset. -1 when it failed (logged with `what`). */
int raft_control_append(struct raft_group *g, const struct elog_record *r, const char *what,
			int64_t *base);

/* broker_raft_purge.c: purges replicated as control batches. */
/* A batch appended at base (leader or follower): noted when it is a purge. */
void raft_purge_appended(struct raft_group *g, const uint8_t *batch, size_t len, int64_t base);
/* The log was cut at `from`: the notes of purges from there on go. */
void raft_purges_cut(struct raft_group *g, int64_t from);
/* The commit moved: move the start for the purges it passed. */
void raft_purges_apply(struct raft_group *g);

/* broker_raft_state.c: states written off the loop; frames held meanwhile. */
/* Open the journal (before any group starts). */
int raft_states_open(struct elog_cluster *k, struct elog_err *err);
/* g's state as it starts: the newer of its raft.state and its journal
 * record (*found: either; *anchored: its raft.state was there). */
int raft_state_load(struct raft_group *g, struct elog_raftstate *s, int *found, int *anchored,
		    struct elog_err *err);
/* Start-up, the metadata applied up to `applied` (the next offset to
 * apply): the journal's records of topics deleted meanwhile go. */
void raft_states_prune(struct elog_cluster *k, int64_t applied);
int raft_states_start(struct elog_cluster *k, struct elog_err *err);
/* Waits for a batch being written, then stops the thread and closes the journal. */
void raft_states_stop(struct elog_cluster *k);
/* g's topic was deleted: its journal record goes. */
void raft_state_forget(struct raft_group *g);
/* g's state may have changed: written after this turn, before its frames go. */
void raft_state_save(struct raft_group *g);
/* g is going: off the turn's list, and forgotten by a batch being written. */
void raft_state_unmark(struct raft_group *g);
/* End of a turn: the marked groups to the writer, frames held or released. */
void raft_states_write(struct elog_cluster *k);
/* The same, written on the loop (start-up, a clean stop): -1 when a group's
 * state could not be written (it is silenced). */
int raft_states_write_now(struct elog_cluster *k);
/* Whether a batch is being written (frames held, group ticks paused). */
int raft_states_busy(const struct elog_cluster *k);
/* The loop was woken: a batch written? Then its frames are released. */
void raft_states_done(struct elog_cluster *k);

/* broker_raft_net.c */
int raft_peers_open(struct elog_cluster *k, struct elog_err *err);
void raft_peers_close(struct elog_cluster *k);
/* Tell the brokers holding no replica of g that this broker leads it (a
 * leader hint), or only broker `to` (-1: all of them). */
void raft_peers_announce(struct elog_cluster *k, const struct raft_group *g, int32_t to);
void raft_peer_queue(struct elog_cluster *k, int32_t to, const struct raft_group *g,
		     const struct elog_raft_msg *m, const uint8_t *batches, size_t len);
/* Close every peer's open frame; send what each may send (out_free). */
void raft_peers_close_frames(struct elog_cluster *k);
void raft_peers_send(struct elog_cluster *k);
/* A raft.state batch began: every frame closed so far waits for it. */
void raft_peers_hold(struct elog_cluster *k);
/* Frames may go: up to the hold marks, or (all) every closed frame. */
void raft_peers_release(struct elog_cluster *k, int all);
/* Drop every peer connection and what it had not sent (a raft.state write failed). */
void raft_peers_drop(struct elog_cluster *k, const char *why);
void raft_peers_tick(struct elog_cluster *k);
/* Whether broker id's frames arrived since the last tick (quiescence). */
int raft_peer_heard(struct elog_cluster *k, int32_t id);
void raft_peers_heard_reset(struct elog_cluster *k);
/* Whether broker id said lately that it is shutting down (LEAVING): no
 * leadership is handed to it (balance, hand-overs). */
int raft_peer_leaving(struct elog_cluster *k, int32_t id);
/* Broker id says it is shutting down: transfers to it given up. */
void raft_groups_peer_leaving(struct elog_cluster *k, int32_t id);
void elog_broker_raft_frame(struct elog_conn *c, const struct elog_frame_header *h,
			    const uint8_t *body, size_t len);

/* broker_raft_admin.c */
int elog_broker_raft_meta_propose(void *ctx, uint8_t *batch, size_t len, int64_t *offset,
				  struct elog_err *err);
/* Admin requests in a cluster: 1 when handled here (answered or parked). */
/* A topic named in a METADATA request that may create it, in a cluster:
 * on the controller, its create (partitions, 0: the default; the default
 * replication; configuration cfg) is proposed once, and the answer is
 * LEADER_UNKNOWN ("being created", retriable) until it is applied;
 * elsewhere NOT_LEADER naming the controller. Returns NULL with *code and
 * msg set. */
struct elog_topic *elog_broker_raft_auto_create(struct elog_broker *b, const char *name,
						size_t len, uint32_t partitions,
						const struct elog_topic_config *cfg, int16_t *code,
						char *msg, size_t cap);
/* Whether this broker leads p's group; and whether it leads it with a
 * record of its own term committed (what it reads is then all that was
 * acknowledged: docs/raft.md, term_start). */
int elog_broker_raft_leads(const struct elog_partition *p);
int elog_broker_raft_leader_current(const struct elog_partition *p);
/* The term p is led here in (1 without replication); 0 when not led here. */
uint64_t elog_broker_raft_leader_term(const struct elog_partition *p);
int elog_broker_raft_create_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				  const char *name, size_t len, uint32_t partitions,
				  uint16_t replication, const struct elog_topic_config *cfg);
int elog_broker_raft_delete_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				  struct elog_topic *t);
int elog_broker_raft_alter_topic(struct elog_conn *c, const struct elog_frame_header *rq,
				 struct elog_topic *t, uint32_t partitions,
				 const struct elog_topic_config *cfg);
int elog_broker_raft_init_producer(struct elog_conn *c, const struct elog_frame_header *rq);
void elog_broker_raft_meta_timeout(struct elog_waiter *w);
void raft_meta_check_waiters(struct elog_cluster *k, int force);
/* Produce: may p take a batch here? 0, or -1 with part's error set. */
int elog_broker_raft_produce_check(struct elog_broker *b, struct elog_partition *p,
				   struct wait_part *part);
void elog_broker_raft_produced(struct elog_broker *b, struct elog_partition *p, int64_t base,
			       int64_t last);
/* acks=all: 1 once committed past need_offset, 0 while waiting, -1 failed (part's error set). */
int elog_broker_raft_produce_done(struct elog_broker *b, struct wait_part *part, int acks_one);
/* FETCH, LIST_OFFSETS, DELETE_RECORDS: NOT_LEADER/LEADER_UNKNOWN unless this broker leads p;
 * the code (0 when it leads) and msg. */
int elog_broker_raft_leader_check(struct elog_broker *b, const struct elog_partition *p,
				  char *msg, size_t cap);
/* DELETE_RECORDS: propose moving p's start to target (at most the commit);
 * 0, or the protocol error with msg. broker_raft_purge.c. */
int elog_broker_raft_purge(struct elog_broker *b, struct elog_partition *p, int64_t target,
			   char *msg, size_t cap);
/* The commit offset of p's group (its start when this broker holds no replica). */
int64_t elog_broker_raft_high_watermark(const struct elog_partition *p);
/* Cut a slice of whole batches so that none reaches past hw (FETCH in a cluster). */
void elog_broker_raft_slice_cap(struct elog_partlog_slice *s, int64_t hw);

#endif
