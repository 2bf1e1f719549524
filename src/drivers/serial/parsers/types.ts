/** A parsed frame: named fields, or why the frame was garbage, or null when the frame is valid but carries nothing for us. */
export type ParseResult = { fields: Record<string, unknown> } | { error: string } | null
