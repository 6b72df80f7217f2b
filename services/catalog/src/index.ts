export { Projection, type VersionRow, type FileRow, type DatasetRow } from "./db/projection.ts";
export { Catalog } from "./catalog.ts";
export {
  ROLES,
  type Role,
  type Identity,
  type TokenEntry,
  type Caller,
  type Route,
  type AuthDecision,
  TokensFileError,
  isTokensFileError,
  parseTokensFile,
  authenticate,
  routeOf,
  decide,
  mayRead,
  tokenSha256,
} from "./domain/auth.ts";
