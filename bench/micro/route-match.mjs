// compileRouteTable(...).match: 9 routes, the DPoP route, a route near the end, and a miss (404).
import { fixtures } from './_fixtures.mjs';

export default async function () {
  const { table } = await fixtures();
  const batch = 1000;
  return [
    { name: 'route match: hit (/dpop/accounts/123)', batch, fn: () => { for (let i = 0; i < batch; i++) table.match('GET', '/dpop/accounts/123', 'api.test'); } },
    { name: 'route match: exact path, last route', batch, fn: () => { for (let i = 0; i < batch; i++) table.match('POST', '/payments', 'api.test'); } },
    { name: 'route match: miss (404)', batch, fn: () => { for (let i = 0; i < batch; i++) table.match('GET', '/nothing/here', 'api.test'); } },
  ];
}
