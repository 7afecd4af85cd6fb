// What a Device that was never closed releases when it is collected (addon/leak-guard.ts): its
// fd, its place in the IOMMU context (group fd, iommufd membership) and the context when the
// device opened it. Built here, outside the Device's scope, so that the release holds no
// reference to the device itself.
import { native } from '../addon/native';
import { watchLeak } from '../addon/leak-guard';

export function watchDevice(
  dev: object,
  name: string,
  fd: number,
  leaveContext: () => void,
  ownIommu: { close(): void } | undefined,
): void {
  watchLeak(dev, 'Device', `Device ${name}`, () => {
    native().close(fd);
    leaveContext();
    ownIommu?.close();
  });
}
