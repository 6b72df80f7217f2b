// Lint rules the test command enforces (`npm run lint`, part of `npm test`).
// Layers: contracts and shared/* are libraries; they never import a service or apps/. A service never
// imports another service or apps/. Only apps/ (the CLI and the operations) may import services.
import js from "@eslint/js";
import importX from "eslint-plugin-import-x";
import simpleImportSort from "eslint-plugin-simple-import-sort";
import tseslint from "typescript-eslint";

const SERVICES = ["ingest", "committer", "catalog", "aggregator", "quality"];

/** no-restricted-imports patterns refusing the given workspace packages and the paths into them. */
function refuse(packages, why) {
  return {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          { group: packages.map((p) => `@lake/${p}`), message: why },
          // A relative path that climbs into services/ or apps/ instead of naming the package.
          { regex: "^(\\.\\./)+(.*/)?(services|apps)/", message: why },
        ],
      },
    ],
  };
}

export default tseslint.config(
  {
    ignores: ["**/node_modules/**", "**/dist/**", "**/.lake/**", "**/.turbo/**", "bench/results/**", "contracts/src/generated.ts", "deploy/**/*.js"],
  },
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "import-x": importX, "simple-import-sort": simpleImportSort },
    rules: {
      // Imports first, in one order: node builtins, packages, workspace packages (@lake/*), then relative.
      "import-x/first": "error",
      "simple-import-sort/imports": ["error", { groups: [["^node:"], ["^@?(?!lake/)\\w"], ["^@lake/"], ["^\\."]] }],
      "simple-import-sort/exports": "off",
      // node:test's test()/describe() return promises the runner tracks itself.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] },
          ],
        },
      ],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
      "no-constant-condition": ["error", { checkLoops: false }],
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  {
    files: ["contracts/**/*.ts", "shared/**/*.ts"],
    rules: refuse([...SERVICES, "app"], "contracts and shared/* are libraries: they never import a service or apps/ (the layer rule, see the style guide)"),
  },
  ...SERVICES.map((svc) => ({
    files: [`services/${svc}/**/*.ts`],
    rules: refuse(
      [...SERVICES.filter((s) => s !== svc), "app"],
      `a service never imports another service or apps/ (services/${svc} talks to the others only through JetStream subjects)`,
    ),
  })),
);
