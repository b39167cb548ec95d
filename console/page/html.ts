/** htm bound to Preact: JSX-like templates without a compiler. */
import { h, type VNode } from 'preact';
import htm from 'htm';

// Each template of this page has one root element, so its result is one VNode.
export const html = htm.bind(h) as (strings: TemplateStringsArray, ...values: unknown[]) => VNode;
