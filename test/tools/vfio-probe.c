/*
 * vfio-probe BDF: opens a PCI device bound to vfio-pci through its group and a type1 container
 * (or the no-IOMMU container when the group is a noiommu one) and prints, as one JSON object on
 * stdout, what the kernel reports: device info and caps, every region (flags, size, offset, cap
 * ids, sparse areas, TYPE cap, or the errno of a refused index), every IRQ index, and a feature
 * probe table (indexes 0..15 x PROBE, PROBE|GET, PROBE|SET: 0 or the errno name).
 *
 * It is the C reference the guest tests compare the library's view with, so it uses nothing but
 * the project's own ABI header (native/abi/vfio_abi.h) and libc. u64 values are printed as hex
 * strings ("0x..."), which JSON numbers could not hold exactly. Exit status: 0 on success, 1
 * with {"error", "step", "errno"} on stdout when a step fails, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "abi/vfio_abi.h"

#define MAX_CAPS 64 /* a longer chain is a loop */

static const char *errno_name(int e) {
  static char fallback[16];
  const char *name = strerrorname_np(e);
  if (name) return name;
  snprintf(fallback, sizeof fallback, "E%d", e);
  return fallback;
}

static void fail(const char *step, int e) {
  printf("{\"error\":\"%s failed\",\"step\":\"%s\",\"errno\":\"%s\"}\n", step, step, errno_name(e));
  exit(1);
}

/* An info ioctl whose struct starts with argsz and may grow with caps: ask with the base size,
 * then again with what the kernel says it needs. Returns a malloc'd buffer or NULL (errno set). */
static void *info_ioctl(int fd, unsigned long request, const void *base, size_t base_size) {
  size_t size = base_size;
  for (int attempt = 0; attempt < 3; attempt++) {
    unsigned char *buf = calloc(1, size);
    if (!buf) return NULL;
    memcpy(buf, base, base_size);
    uint32_t argsz = (uint32_t)size;
    memcpy(buf, &argsz, sizeof argsz);
    if (ioctl(fd, request, buf) < 0) {
      int e = errno;
      free(buf);
      errno = e;
      return NULL;
    }
    memcpy(&argsz, buf, sizeof argsz);
    if (argsz <= size) return buf;
    free(buf);
    size = argsz;
  }
  errno = EOVERFLOW;
  return NULL;
}

/* Prints the ids of a capability chain as a JSON array; calls on_cap for each valid header. */
typedef void (*cap_fn)(const unsigned char *info, uint32_t argsz, uint32_t offset, void *ctx);
static void print_caps(const unsigned char *info, uint32_t argsz, size_t fixed, uint32_t first, cap_fn on_cap, void *ctx) {
  printf("[");
  uint32_t off = first;
  for (int n = 0; off != 0 && n < MAX_CAPS; n++) {
    if (off < fixed || off > argsz || argsz - off < sizeof(struct vfio_info_cap_header)) {
      printf("%s\"bad offset %u\"", n ? "," : "", off);
      break;
    }
    struct vfio_info_cap_header h;
    memcpy(&h, info + off, sizeof h);
    printf("%s%u", n ? "," : "", h.id);
    if (on_cap) on_cap(info, argsz, off, ctx);
    off = h.next;
  }
  printf("]");
}

struct region_extras {
  int sparse_at; /* offsets of the caps worth expanding, 0 = absent */
  int type_at;
};

static void note_region_cap(const unsigned char *info, uint32_t argsz, uint32_t off, void *ctx) {
  struct region_extras *x = ctx;
  struct vfio_info_cap_header h;
  memcpy(&h, info + off, sizeof h);
  if (h.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && argsz - off >= sizeof(struct vfio_region_info_cap_sparse_mmap)) x->sparse_at = (int)off;
  if (h.id == VFIO_REGION_INFO_CAP_TYPE && argsz - off >= sizeof(struct vfio_region_info_cap_type)) x->type_at = (int)off;
}

static void print_sparse(const unsigned char *info, uint32_t argsz, uint32_t off) {
  struct vfio_region_info_cap_sparse_mmap cap;
  memcpy(&cap, info + off, sizeof cap);
  printf(",\"sparse\":[");
  for (uint32_t i = 0; i < cap.nr_areas; i++) {
    size_t at = off + sizeof cap + (size_t)i * sizeof(struct vfio_region_sparse_mmap_area);
    if (at + sizeof(struct vfio_region_sparse_mmap_area) > argsz) break; /* truncated: print what fits */
    struct vfio_region_sparse_mmap_area area;
    memcpy(&area, info + at, sizeof area);
    printf("%s{\"offset\":\"0x%llx\",\"size\":\"0x%llx\"}", i ? "," : "",
           (unsigned long long)area.offset, (unsigned long long)area.size);
  }
  printf("]");
}

static void print_region(int device, uint32_t index) {
  struct vfio_region_info base = {0};
  base.index = index;
  struct vfio_region_info *info = info_ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &base, sizeof base);
  if (!info) {
    printf("{\"index\":%u,\"errno\":\"%s\"}", index, errno_name(errno));
    return;
  }
  printf("{\"index\":%u,\"flags\":%u,\"size\":\"0x%llx\",\"offset\":\"0x%llx\",\"caps\":", index, info->flags,
         (unsigned long long)info->size, (unsigned long long)info->offset);
  struct region_extras extras = {0, 0};
  const unsigned char *bytes = (const unsigned char *)info;
  uint32_t first = (info->flags & VFIO_REGION_INFO_FLAG_CAPS) ? info->cap_offset : 0;
  print_caps(bytes, info->argsz, sizeof *info, first, note_region_cap, &extras);
  if (extras.sparse_at) print_sparse(bytes, info->argsz, (uint32_t)extras.sparse_at);
  if (extras.type_at) {
    struct vfio_region_info_cap_type type;
    memcpy(&type, bytes + extras.type_at, sizeof type);
    printf(",\"type\":{\"type\":%u,\"subtype\":%u}", type.type, type.subtype);
  }
  printf("}");
  free(info);
}

static void print_irq(int device, uint32_t index) {
  struct vfio_irq_info irq = {0};
  irq.argsz = sizeof irq;
  irq.index = index;
  if (ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &irq) < 0) {
    printf("{\"index\":%u,\"errno\":\"%s\"}", index, errno_name(errno));
    return;
  }
  printf("{\"index\":%u,\"flags\":%u,\"count\":%u}", index, irq.flags, irq.count);
}

/* "0" when the kernel accepts the probe, else the errno name, as a JSON value. */
static void print_probe(int device, uint32_t flags) {
  struct vfio_device_feature feature = {sizeof feature, flags};
  if (ioctl(device, VFIO_DEVICE_FEATURE, &feature) == 0) {
    printf("0");
  } else {
    printf("\"%s\"", errno_name(errno));
  }
}

static void print_features(int device) {
  printf("[");
  for (uint32_t index = 0; index < 16; index++) {
    printf("%s{\"index\":%u,\"probe\":", index ? "," : "", index);
    print_probe(device, VFIO_DEVICE_FEATURE_PROBE | index);
    printf(",\"probe_get\":");
    print_probe(device, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | index);
    printf(",\"probe_set\":");
    print_probe(device, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET | index);
    printf("}");
  }
  printf("]");
}

/* The group's /dev/vfio node: "N" with an IOMMU, "noiommu-N" in no-IOMMU mode. */
static int open_group(const char *bdf, unsigned long *group, int *noiommu) {
  char link[PATH_MAX], target[PATH_MAX];
  snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", bdf);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) fail("readlink iommu_group", errno);
  target[n] = '\0';
  const char *id = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
  char *end = NULL;
  *group = strtoul(id, &end, 10);
  if (end == id || *end != '\0') fail("parse iommu_group", EINVAL);
  char path[64];
  snprintf(path, sizeof path, "/dev/vfio/%lu", *group);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  *noiommu = 0;
  if (fd < 0 && errno == ENOENT) {
    snprintf(path, sizeof path, "/dev/vfio/noiommu-%lu", *group);
    fd = open(path, O_RDWR | O_CLOEXEC);
    *noiommu = 1;
  }
  if (fd < 0) fail("open group", errno);
  return fd;
}

static const char *attach_container(int container, int group, int noiommu) {
  if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) fail("VFIO_GET_API_VERSION", errno ? errno : EINVAL);
  struct vfio_group_status status = {sizeof status, 0};
  if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0) fail("VFIO_GROUP_GET_STATUS", errno);
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) fail("group viable", EBUSY);
  if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0) fail("VFIO_GROUP_SET_CONTAINER", errno);
  const long long types[] = {VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU};
  const char *names[] = {"type1v2", "type1"};
  if (noiommu) {
    if (ioctl(container, VFIO_SET_IOMMU, (unsigned long)VFIO_NOIOMMU_IOMMU) < 0) fail("VFIO_SET_IOMMU", errno);
    return "noiommu";
  }
  for (int i = 0; i < 2; i++) {
    if (ioctl(container, VFIO_CHECK_EXTENSION, (unsigned long)types[i]) > 0 &&
        ioctl(container, VFIO_SET_IOMMU, (unsigned long)types[i]) == 0) {
      return names[i];
    }
  }
  fail("VFIO_SET_IOMMU", errno ? errno : ENODEV);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: vfio-probe DOMAIN:BUS:DEV.FN (e.g. 0000:00:03.0)\n");
    return 2;
  }
  const char *bdf = argv[1];
  unsigned long group_id;
  int noiommu;
  int group = open_group(bdf, &group_id, &noiommu);
  int container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  if (container < 0) fail("open /dev/vfio/vfio", errno);
  const char *iommu = attach_container(container, group, noiommu);
  int device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
  if (device < 0) fail("VFIO_GROUP_GET_DEVICE_FD", errno);

  struct vfio_device_info base = {0};
  struct vfio_device_info *info = info_ioctl(device, VFIO_DEVICE_GET_INFO, &base, sizeof base);
  if (!info) fail("VFIO_DEVICE_GET_INFO", errno);
  printf("{\"bdf\":\"%s\",\"group\":%lu,\"iommu\":\"%s\",", bdf, group_id, iommu);
  printf("\"device\":{\"flags\":%u,\"num_regions\":%u,\"num_irqs\":%u,\"caps\":", info->flags, info->num_regions, info->num_irqs);
  uint32_t first = (info->flags & VFIO_DEVICE_FLAGS_CAPS) ? info->cap_offset : 0;
  print_caps((const unsigned char *)info, info->argsz, sizeof *info, first, NULL, NULL);
  printf("},\"regions\":[");
  for (uint32_t i = 0; i < info->num_regions; i++) {
    if (i) printf(",");
    print_region(device, i);
  }
  printf("],\"irqs\":[");
  for (uint32_t i = 0; i < info->num_irqs; i++) {
    if (i) printf(",");
    print_irq(device, i);
  }
  printf("],\"features\":");
  print_features(device);
  printf("}\n");
  free(info);
  close(device);
  close(group);
  close(container);
  return 0;
}
