/** The buf CLI, pinned: the generated code in gen/ depends on its version. */
export const BUF = "npm:@bufbuild/buf@1.75.0";
