export { Projection, type VersionRow, type FileRow, type DatasetRow } from "./db/projection.ts";
export { Catalog } from "./catalog.ts";
