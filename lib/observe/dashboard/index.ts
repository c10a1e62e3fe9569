/** meshcache/dashboard: the live dashboard of a mesh, served from one instance. */
export { serveDashboard, type Dashboard, type DashboardOptions } from './server.ts'
export type { Snapshot, MemberView } from './snapshot.ts'
