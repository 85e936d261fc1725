/**
 * The router compliance suite (test/fakes/fake-router-compliance.ts) against the fake router.
 * The real router should register the same suite with its own factory.
 */
import { FakeRouter } from './fakes/fake-router.ts';
import { routerComplianceSuite } from './fakes/fake-router-compliance.ts';

routerComplianceSuite('fake router', async ({ socketPath, podCIDRs }) => {
  const r = new FakeRouter({ socketPath, podCIDRs });
  await r.start();
  return { stop: () => r.stop() };
});
