// mmap cookies and write-combining: typed handles for "region X, range Y, attribute Z, backed by
// W", every route to a WC mapping the running kernel offers, and what the kernel really gave.
export * from './model';
export { MmapCookie, CookieOwner } from './cookie';
export {
  CookieRegistry,
  CookieHost,
  CookieRegistryOptions,
  CookieCallOptions,
  MemattrRoutesOptions,
  CookieKey,
  DEFAULT_ROUTES,
} from './registry';
export {
  Route,
  OpenEnv,
  OpenedBacking,
  vfioRegionRoute,
  wcRegionRoute,
  wcRegionsFor,
  barOf,
  reserveNeed,
} from './routes';
export { Chosen, chooseRoute, orderRoutes } from './choose';
export { sysfsWcRoute } from './sysfs-wc';
export { dmabufRoute } from './dmabuf-route';
export { cookieFeatureRoute } from './cookie-feature-route';
export * from './sample-driver';
export {
  RouteFacts,
  FactsSource,
  DeviceFacts,
  DevmemPolicy,
  HostPaths,
  FeatureAnswer,
  FeatureProbeAnswers,
  devmemPolicy,
  kernelConfigValue,
} from './facts';
export { PatReader, PatReaderOptions, PatSnapshot, EffectiveAttr, effectiveFromPat } from './pat';
export { WcReservation, reserveWcBeforeOpen, reserveProblem } from './reserve';
export { AliasSubject, AliasReport, AliasFinding, aliasing } from './aliasing';
