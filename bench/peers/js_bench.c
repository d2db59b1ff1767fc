/* js_bench: JetStream publish/consume throughput with the NATS C client (libnats, cnats).
 *
 * elog's copy of ../shared/bench-peers/src/js_bench.c, for bench/cluster. It
 * measures exactly as the original does; what it adds:
 *   -R replicas      the stream's replicas (default 1, as the original; 3 for
 *                    a 3-server cluster's R3 stream)
 *   -W seconds       how long stream creation is retried while the cluster
 *                    is still electing its JetStream meta leader (default 30;
 *                    untimed: creation happens before the clock starts)
 *   ready            mode: wait (up to -W) until a stream of -R replicas can
 *                    be created, then delete it; prints "ready secs=.."
 *   pub-async waits up to 30 s (not cnats's default 200 ms) for room when
 *   max_pending acks are outstanding: the original fails the run instead,
 *   which an R3 stream on a shared 2-core machine makes happen. The clock
 *   is unchanged (a stall is inside it, as it was).
 * The url may list several servers, comma-separated.
 *
 * usage:
 *   js_bench [-R replicas] [-W seconds] <url> <mode> ...
 *   js_bench <url> ready                                          wait until a stream can be created
 *   js_bench <url> pub-async  <count> <size> [max_pending=4096]   (re)creates stream, async publish, waits all acks
 *   js_bench <url> pub-sync   <count> <size>                      (re)creates stream, js_Publish waits each ack
 *   js_bench <url> sub-pull   <count> [batch=1000]                pull consumer (AckNone), fetch batches until count
 *   js_bench <url> sub-ordered <count>                            ordered push consumer, until count
 *   js_bench <url> delete                                         delete the stream
 * The stream is "ELOGBENCH", subject "elogbench.>", file storage, -R replicas, no limits.
 * prints one line:  mode=.. msgs=.. size=.. secs=.. msgs_per_s=.. MB_per_s=..   (MB = 1e6 bytes of payload)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nats/nats.h>

#define STREAM "ELOGBENCH"
#define SUBJ   "elogbench.x"

static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static void die(const char *what, natsStatus s, jsErrCode je){
  fprintf(stderr,"js_bench: %s failed: %s (jserr=%d) %s\n",what,natsStatus_GetText(s),(int)je,nats_GetLastError(NULL)?nats_GetLastError(NULL):"");
  exit(1);
}
static volatile int64_t async_errs = 0;
static void ack_err(jsCtx *js, jsPubAckErr *pae, void *cl){ (void)js;(void)cl; async_errs++; if(async_errs<5) fprintf(stderr,"async pub err: %s\n", pae->ErrText?pae->ErrText:"?"); }

static int replicas = 1;            /* -R */
static double create_wait_s = 30;   /* -W */

/* Create the stream, retrying (every 100 ms, up to -W seconds) while a new
 * cluster cannot place it yet (no meta leader, peers not yet known). */
static void create_stream(jsCtx *js){
  jsErrCode je=0; jsStreamConfig sc; jsStreamInfo *si=NULL; const char *subs[1]={"elogbench.>"};
  natsStatus s; double deadline=now()+create_wait_s;
  jsStreamConfig_Init(&sc);
  sc.Name=STREAM; sc.Subjects=subs; sc.SubjectsLen=1; sc.Storage=js_FileStorage; sc.Replicas=replicas;
  while((s=js_AddStream(&si, js, &sc, NULL, &je))!=NATS_OK){
    if(now()>=deadline) die("js_AddStream",s,je);
    je=0; usleep(100000);
  }
  jsStreamInfo_Destroy(si);
}
static void recreate_stream(jsCtx *js){
  jsErrCode je=0;
  js_DeleteStream(js, STREAM, NULL, &je);   /* ignore "not found" */
  create_stream(js);
}
static void report(const char *mode,long n,int size,double secs){
  printf("mode=%s msgs=%ld size=%d secs=%.3f msgs_per_s=%.0f MB_per_s=%.2f\n",mode,n,size,secs,n/secs,(double)n*size/secs/1e6);
}

int main(int argc,char**argv){
  int opt;
  while((opt=getopt(argc,argv,"+R:W:"))!=-1){
    if(opt=='R'){ replicas=atoi(optarg); if(replicas<1||replicas>5){fprintf(stderr,"js_bench: -R %s: want 1..5\n",optarg);return 2;} }
    else if(opt=='W'){ create_wait_s=atof(optarg); if(!(create_wait_s>0&&create_wait_s<=600)){fprintf(stderr,"js_bench: -W %s: want 0..600 seconds\n",optarg);return 2;} }
    else {fprintf(stderr,"usage: see source header\n");return 2;}
  }
  argc-=optind-1; argv+=optind-1;
  if(argc<3){fprintf(stderr,"usage: see source header\n");return 2;}
  const char *url=argv[1], *mode=argv[2];
  long count=argc>3?atol(argv[3]):1000000; natsStatus s; jsErrCode je=0;
  natsOptions *o; natsConnection *nc; jsCtx *js; jsOptions jo;
  natsOptions_Create(&o);
  if(strchr(url,',')){                                        /* a server list: "nats://a:1,nats://b:2" */
    const char *servers[8]; int ns=0; char *copy=strdup(url), *save=NULL;
    for(char *t=strtok_r(copy,",",&save); t && ns<8; t=strtok_r(NULL,",",&save)) servers[ns++]=t;
    if((s=natsOptions_SetServers(o,servers,ns))!=NATS_OK) die("servers",s,0);
  } else natsOptions_SetURL(o,url);
  natsOptions_SetMaxPendingMsgs(o, 1<<20);                    /* subscription pending limits (consume side) */
  natsOptions_SetIOBufSize(o, 1<<20);
  if((s=natsConnection_Connect(&nc,o))!=NATS_OK) die("connect",s,0);
  jsOptions_Init(&jo); jo.Wait=30000;
  if(!strcmp(mode,"pub-async")){
    jo.PublishAsync.MaxPending = argc>5?atol(argv[5]):4096;
    jo.PublishAsync.ErrHandler = ack_err;
    jo.PublishAsync.StallWait = 30000;                        /* cnats's 200 ms default fails an R3 run on a busy machine */
  }
  if((s=natsConnection_JetStream(&js,nc,&jo))!=NATS_OK) die("jetstream ctx",s,0);

  if(!strcmp(mode,"delete")){ js_DeleteStream(js,STREAM,NULL,&je); }
  else if(!strcmp(mode,"ready")){
    double t0=now(); recreate_stream(js); js_DeleteStream(js,STREAM,NULL,&je);
    printf("mode=ready replicas=%d secs=%.3f\n",replicas,now()-t0);
  }
  else if(!strcmp(mode,"pub-async")||!strcmp(mode,"pub-sync")){
    int size=argc>4?atoi(argv[4]):100; char *buf=malloc(size); memset(buf,'m',size);
    recreate_stream(js);
    double t0=now();
    if(!strcmp(mode,"pub-async")){
      for(long i=0;i<count;i++){
        s=js_PublishAsync(js,SUBJ,buf,size,NULL);
        if(s!=NATS_OK) die("js_PublishAsync",s,0);
      }
      jsPubOptions po; jsPubOptions_Init(&po); po.MaxWait=120000;
      if((s=js_PublishAsyncComplete(js,&po))!=NATS_OK) die("js_PublishAsyncComplete",s,0);
    } else {
      for(long i=0;i<count;i++){
        jsPubAck *pa=NULL; s=js_Publish(&pa,js,SUBJ,buf,size,NULL,&je);
        if(s!=NATS_OK) die("js_Publish",s,je);
        jsPubAck_Destroy(pa);
      }
    }
    double el=now()-t0;
    if(async_errs){fprintf(stderr,"async errors: %lld\n",(long long)async_errs);return 1;}
    /* verify the stream holds what we sent */
    jsStreamInfo *si=NULL; if((s=js_GetStreamInfo(&si,js,STREAM,NULL,&je))!=NATS_OK) die("stream info",s,je);
    if((long)si->State.Msgs!=count){fprintf(stderr,"stream has %llu msgs, expected %ld\n",(unsigned long long)si->State.Msgs,count);return 1;}
    jsStreamInfo_Destroy(si);
    report(mode,count,size,el);
  } else if(!strcmp(mode,"sub-pull")){
    int batch=argc>4?atoi(argv[4]):1000; jsSubOptions so; natsSubscription *sub; long got=0; long bytes=0;
    jsSubOptions_Init(&so); so.Stream=STREAM; so.Config.AckPolicy=js_AckNone; so.Config.DeliverPolicy=js_DeliverAll;
    so.Config.MaxRequestBatch=batch;
    char durable[64]; snprintf(durable,sizeof durable,"pull%ld",(long)time(NULL)%100000);
    if((s=js_PullSubscribe(&sub,js,"elogbench.>",durable,&jo,&so,&je))!=NATS_OK) die("js_PullSubscribe",s,je);
    double t0=now();
    while(got<count){
      natsMsgList l={0}; s=natsSubscription_Fetch(&l,sub,batch,10000,&je);
      if(s!=NATS_OK) die("fetch",s,je);
      for(int i=0;i<l.Count;i++) bytes+=natsMsg_GetDataLength(l.Msgs[i]);
      got+=l.Count; natsMsgList_Destroy(&l);
    }
    double el=now()-t0; report("sub-pull",got,(int)(bytes/got),el);
    natsSubscription_Unsubscribe(sub); natsSubscription_Destroy(sub);
    js_DeleteConsumer(js,STREAM,durable,NULL,&je);
  } else if(!strcmp(mode,"sub-ordered")){
    jsSubOptions so; natsSubscription *sub; long got=0, bytes=0;
    jsSubOptions_Init(&so); so.Stream=STREAM; so.Ordered=true; so.Config.DeliverPolicy=js_DeliverAll;
    if((s=js_SubscribeSync(&sub,js,"elogbench.>",&jo,&so,&je))!=NATS_OK) die("js_SubscribeSync",s,je);
    natsSubscription_SetPendingLimits(sub,-1,-1);
    double t0=0;
    while(got<count){
      natsMsg *m=NULL; s=natsSubscription_NextMsg(&m,sub,10000);
      if(s!=NATS_OK) die("NextMsg",s,0);
      if(!t0) t0=now();
      bytes+=natsMsg_GetDataLength(m); got++; natsMsg_Destroy(m);
    }
    double el=now()-t0; report("sub-ordered",got,(int)(bytes/got),el);
    natsSubscription_Unsubscribe(sub); natsSubscription_Destroy(sub);
  } else { fprintf(stderr,"unknown mode %s\n",mode); return 2; }
  jsCtx_Destroy(js); natsConnection_Destroy(nc); natsOptions_Destroy(o); nats_Close();
  return 0;
}
