// @ts-check
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["node_modules/", ".tools/", ".tidemark/", "dist/", "console/dist/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allow: [{ from: "lib", name: "bigint" }] },
      ],
      "@typescript-eslint/no-confusing-void-expression": "off",
    },
  },
  {
    files: ["domain/**/*.ts"],
    ignores: ["domain/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!\\.{1,2}/|libphonenumber-js)",
              message: "domain/ is pure: it imports only domain/ (and libphonenumber-js, pure metadata).",
            },
            { regex: "^\\.\\./\\.\\./", message: "domain/ is pure: it imports only domain/." },
          ],
        },
      ],
      "no-restricted-globals": ["error", "Date", "setTimeout", "setInterval", "fetch", "process"],
      "no-restricted-properties": ["error", { object: "Math", property: "random" }],
    },
  },
  {
    files: ["gateways/**/*.ts"],
    ignores: ["gateways/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\./)+(commands|reactors|projections|bin)/",
              message:
                "gateways/ holds adapters only: they import domain/ and gateways/, never the layers above.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["http/**/*.ts"],
    ignores: ["http/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(\\.\\./)+(commands|reactors|projections|bin)/",
              message:
                "http/ is the HTTP edge every API uses: it imports domain/, gateways/ and http/, never the layers that use it.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.test.ts", "**/*Contract.ts", "test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-floating-promises": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
