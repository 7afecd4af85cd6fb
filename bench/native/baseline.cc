// C baselines for the benchmarks, run in the same process as the JavaScript under test so the
// ratio compares like with like (same mapping, same machine state). Bench-only: not part of the
// vfio addon, never shipped.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "abi/vfio_abi.h"

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Returns the ArrayBuffer's memory, or nullptr (after throwing) if the arguments are wrong.
volatile uint32_t* reg32(const Napi::CallbackInfo& info, size_t* words) {
  if (info.Length() < 3 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(info.Env(), "(buffer, offset, iterations) expected").ThrowAsJavaScriptException();
    return nullptr;
  }
  auto ab = info[0].As<Napi::ArrayBuffer>();
  uint32_t off = info[1].As<Napi::Number>().Uint32Value();
  if (off % 4 != 0 || off + 4 > ab.ByteLength()) {
    Napi::RangeError::New(info.Env(), "offset outside the buffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  *words = ab.ByteLength() / 4;
  return reinterpret_cast<volatile uint32_t*>(static_cast<uint8_t*>(ab.Data()) + off);
}

// Nanoseconds for `iterations` volatile 32-bit stores to one register.
Napi::Value write32_loop(const Napi::CallbackInfo& info) {
  size_t words;
  volatile uint32_t* r = reg32(info, &words);
  if (!r) return info.Env().Undefined();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) *r = i;
  return Napi::Number::New(info.Env(), double(now_ns() - t0));
}

// Nanoseconds for `iterations` volatile 32-bit loads of one register.
Napi::Value read32_loop(const Napi::CallbackInfo& info) {
  size_t words;
  volatile uint32_t* r = reg32(info, &words);
  if (!r) return info.Env().Undefined();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint32_t sink = 0;
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) sink += *r;
  uint64_t dt = now_ns() - t0;
  (void)sink;
  return Napi::Number::New(info.Env(), double(dt));
}

// Nanoseconds for `iterations` GET_REGION_INFO round trips done the way the library does them:
// ask with the base size, re-ask with the argsz the kernel wants, walk the capability chain.
Napi::Value region_info_loop(const Napi::CallbackInfo& info) {
  using vfio_abi::vfio_region_info;
  using vfio_abi::vfio_info_cap_header;
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint32_t caps_seen = 0;
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) {
    vfio_region_info base{};
    base.argsz = sizeof base;
    base.index = index;
    if (ioctl(fd, vfio_abi::VFIO_DEVICE_GET_REGION_INFO, &base) != 0) return Napi::Number::New(info.Env(), -1);
    if (base.argsz <= sizeof base) continue;
    uint32_t size = base.argsz;
    auto* full = static_cast<vfio_region_info*>(calloc(1, size));
    full->argsz = size;
    full->index = index;
    if (ioctl(fd, vfio_abi::VFIO_DEVICE_GET_REGION_INFO, full) == 0) {
      for (uint32_t off = full->cap_offset, hops = 0; off && off + sizeof(vfio_info_cap_header) <= size && hops < 64; hops++) {
        vfio_info_cap_header h;
        memcpy(&h, reinterpret_cast<uint8_t*>(full) + off, sizeof h);
        caps_seen += h.id;
        off = h.next;
      }
    }
    free(full);
  }
  uint64_t dt = now_ns() - t0;
  (void)caps_seen;
  return Napi::Number::New(info.Env(), double(dt));
}

// Nanoseconds for `iterations` VFIO_IOMMU_MAP_DMA + UNMAP_DMA pairs of the first `length` bytes
// of `buffer` (the same DMA buffer the Node side maps) at a fixed IOVA; -errno on failure.
Napi::Value dma_map_loop(const Napi::CallbackInfo& info) {
  using vfio_abi::vfio_iommu_type1_dma_map;
  using vfio_abi::vfio_iommu_type1_dma_unmap;
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsNumber() ||
      !info[3].IsNumber() || !info[4].IsNumber()) {
    Napi::TypeError::New(info.Env(), "(containerFd, buffer, length, iova, iterations) expected").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto ab = info[1].As<Napi::ArrayBuffer>();
  uint64_t length = uint64_t(info[2].As<Napi::Number>().Int64Value());
  uint64_t iova = uint64_t(info[3].As<Napi::Number>().Int64Value());
  uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  if (length == 0 || length > ab.ByteLength()) {
    Napi::RangeError::New(info.Env(), "length outside the buffer").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  uint64_t vaddr = reinterpret_cast<uintptr_t>(ab.Data());
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) {
    vfio_iommu_type1_dma_map map{sizeof map, vfio_abi::VFIO_DMA_MAP_FLAG_READ | vfio_abi::VFIO_DMA_MAP_FLAG_WRITE, vaddr, iova, length};
    if (ioctl(fd, vfio_abi::VFIO_IOMMU_MAP_DMA, &map) != 0) return Napi::Number::New(info.Env(), -errno);
    vfio_iommu_type1_dma_unmap unmap{sizeof unmap, 0, iova, length};
    if (ioctl(fd, vfio_abi::VFIO_IOMMU_UNMAP_DMA, &unmap) != 0) return Napi::Number::New(info.Env(), -errno);
  }
  return Napi::Number::New(info.Env(), double(now_ns() - t0));
}

// The interrupt latency benchmark's writer as a thread of this process (bench/irq-epoll.c has it
// as another process). Per go-ahead it sleeps gap_us, so the reader is asleep again, then adds its
// CLOCK_MONOTONIC time in ns to the eventfd; a reader that finds the counter at 0 reads that time
// back. Why a thread: a device's MSI signals the eventfd from interrupt context and the sleeping
// reader wakes on a CPU that still has its address space loaded. A writer process instead costs
// an address-space switch per wakeup, which under software emulation (flushed soft TLB and jump
// cache) costs more the bigger the reader's working set, so it penalises Node over C.
// The thread makes only system calls: it never touches JavaScript or Node-API.
class Writer {
 public:
  ~Writer() { stop(); }

  // Starts the thread with every signal blocked, so signals stay with Node's own threads and
  // never cut its sleep short. False (errno set) if it could not.
  bool start(int efd, long gap_us) {
    if (running_ || pipe2(go_, O_CLOEXEC) != 0) return false;
    efd_ = efd;
    gap_us_ = gap_us;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&thread_, nullptr, run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err != 0) {
      close(go_[0]);
      close(go_[1]);
      errno = err;
      return false;
    }
    running_ = true;
    return true;
  }

  // One go-ahead: a byte into the pipe, never blocks the caller.
  bool go() { return running_ && write(go_[1], "x", 1) == 1; }

  // End of file on the pipe ends the thread after at most one more sleep and write; joined here,
  // so no thread outlives its writer (nor writes into an eventfd its owner has since closed).
  void stop() {
    if (!running_) return;
    running_ = false;
    close(go_[1]);
    pthread_join(thread_, nullptr);
    close(go_[0]);
  }

 private:
  static void* run(void* self) {
    auto* w = static_cast<Writer*>(self);
    for (;;) {
      char c;
      ssize_t r = read(w->go_[0], &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r != 1) return nullptr;
      usleep(useconds_t(w->gap_us_));
      uint64_t t = now_ns();
      if (write(w->efd_, &t, sizeof t) != sizeof t) return nullptr;
    }
  }

  int efd_ = -1;
  long gap_us_ = 0;
  int go_[2] = {-1, -1};
  pthread_t thread_{};
  bool running_ = false;
};

// The JavaScript face of a Writer: irq_thread_writer_start(eventfd, gapUs) -> { go(), stop() }.
// stop() is for the caller to make (the eventfd must outlive the thread); the destructor stops
// too, as a backstop if the object is collected unstopped.
class JsWriter : public Napi::ObjectWrap<JsWriter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IrqThreadWriter", {InstanceMethod<&JsWriter::Go>("go"), InstanceMethod<&JsWriter::Stop>("stop")});
  }

  explicit JsWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsWriter>(info) {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(info.Env(), "(eventfd, gapUs) expected").ThrowAsJavaScriptException();
      return;
    }
    int efd = info[0].As<Napi::Number>().Int32Value();
    long gap_us = long(info[1].As<Napi::Number>().Int64Value());
    if (!w_.start(efd, gap_us)) {
      Napi::Error::New(info.Env(), std::string("writer thread: ") + strerror(errno)).ThrowAsJavaScriptException();
    }
  }

 private:
  Napi::Value Go(const Napi::CallbackInfo& info) {
    if (!w_.go()) Napi::Error::New(info.Env(), "writer thread stopped").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    w_.stop();
    return info.Env().Undefined();
  }

  Writer w_;
};

Napi::Value irq_thread_writer_start(const Napi::CallbackInfo& info) {
  return info.Env().GetInstanceData<Napi::FunctionReference>()->New({info[0], info[1]});
}

// The C reader for the writer thread: n wakeups of epoll_wait + read on the calling thread, all
// in this process like the Node reader it is compared with. Latencies in ns, or throws.
Napi::Value irq_thread_baseline(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "(n, gapUs) expected").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  long gap_us = long(info[1].As<Napi::Number>().Int64Value());
  auto lat = Napi::Float64Array::New(env, n);
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  const char* failed = nullptr;
  if (efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) failed = "eventfd/epoll";
  Writer w;
  if (!failed && !w.start(efd, gap_us)) failed = "writer thread";
  for (uint32_t i = 0; !failed && i < n; i++) {
    if (!w.go()) failed = "go-ahead";
    epoll_event out;
    while (!failed && epoll_wait(ep, &out, 1, -1) < 1) {
    }
    uint64_t t0;
    if (!failed && read(efd, &t0, sizeof t0) != sizeof t0) failed = "read eventfd";
    if (!failed) lat[i] = double(now_ns() - t0);
  }
  int err = errno;
  w.stop();
  if (ep >= 0) close(ep);
  if (efd >= 0) close(efd);
  if (failed) {
    Napi::Error::New(env, std::string(failed) + ": " + strerror(err)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return lat;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("write32_loop", Napi::Function::New(env, write32_loop));
  exports.Set("read32_loop", Napi::Function::New(env, read32_loop));
  exports.Set("region_info_loop", Napi::Function::New(env, region_info_loop));
  exports.Set("dma_map_loop", Napi::Function::New(env, dma_map_loop));
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(JsWriter::Define(env))));
  exports.Set("irq_thread_writer_start", Napi::Function::New(env, irq_thread_writer_start));
  exports.Set("irq_thread_baseline", Napi::Function::New(env, irq_thread_baseline));
  return exports;
}

}  // namespace

NODE_API_MODULE(vfio_bench, Init)
