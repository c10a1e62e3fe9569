/**
 * The gossipsub relay tier for large meshes (opt-in: the `gossipsub` option).
 *
 * Direct streams cost the writer one send per peer (~17 µs here, DESIGN.md),
 * so a broadcast to hundreds of peers takes milliseconds of the writer's
 * time; gossipsub sends to D (6) mesh peers, which forward. It costs more per
 * message and a hop per relay (NOTES.md: p50 ~1 ms in a 5-node mesh against
 * 0.1-0.2 ms direct), so it only pays off past a few dozen peers: broadcasts
 * in a namespace with at least `minPeers` peers go through the namespace's
 * topic, smaller ones stay direct. Point-to-point frames (anti-entropy)
 * always stay on direct streams.
 *
 * Gossipsub's pitfalls (NOTES.md), handled here:
 * - No delivery guarantee, and a publish right after subscribing or with no
 *   topic peers reaches nobody: `allowPublishToZeroTopicPeers` keeps the
 *   publish from throwing, and the core repairs the loss (its sequence gaps,
 *   announcements and periodic anti-entropy run over direct streams).
 * - Message ids: an UPDATES frame's id is its (origin, first sequence
 *   number) (protocol/frame-id.ts), so two different frames are never
 *   mistaken for one; other frames fall back to SHA-256 of the bytes.
 * - IP colocation scoring would graylist 12+ peers behind one address (all
 *   of a test mesh, or pods behind one NAT): its weight is 0.
 * - Frames are capped by gossipsub's length prefix (4 MiB): frames over
 *   1 MiB are never relayed, they go direct (split into pieces there).
 * - No signing (StrictNoSign): every connection is already authenticated by
 *   Noise and, with a psk, private; the threat model is in SPEC.md §11.
 * - With region links, writes go on a topic of the region (regionTopicOf):
 *   the fast lane carries them across. An instance without a region joins
 *   the region topics its peers join (#heardOf), so it hears and passes on
 *   their writes; a neighbour that still does not join ours (a release from
 *   before it, or its subscription not come yet) gets the lane's copy
 *   (missesRegionWrites, fast-lane.ts).
 */
import { createHash } from 'node:crypto'
import type { GossipSub, GossipsubMessage, SubscriptionChangeData } from '@libp2p/gossipsub'
import type { Connection, Logger, Topology } from '@libp2p/interface'
import { updatesFrameId } from '../../../protocol/frame-id.ts'
import { CHUNK_BYTES } from './envelope.ts'
import { afterThisRun } from '../../core/runtime.ts'

/** Topic of a namespace. The version is the envelope's: peers of another major never share a topic. */
export function topicOf (namespace: string): string {
  return `/meshcache/1/${namespace}`
}

/**
 * Topic of a namespace's writes inside one region (SPEC.md §11.4). With region links the fast lane carries
 * each write across a far link once; on the namespace's topic gossipsub also carried it across wherever a far
 * link was in its mesh, and a far end's publish of a lane crossing came back: about two copies a far link.
 * Only instances of the region subscribe here, so neither gossipsub's mesh nor its publishes reach across,
 * while awareness and relayed repairs stay on the namespace's topic and cross as before (keeping far peers out
 * of gossipsub altogether slowed the heal of partitions: bench/README.md). Never equal to a namespace's topic
 * (`1-region` against `1/`), and the region's length keeps two (region, namespace) pairs apart.
 */
export function regionTopicOf (namespace: string, region: string): string {
  return `/meshcache/1-region/${region.length}:${region}/${namespace}`
}

const utf8 = new TextEncoder()

/** The namespace of a region's topic (regionTopicOf), or undefined for any other topic. */
export function namespaceOfRegionTopic (topic: string): string | undefined {
  const prefix = '/meshcache/1-region/'
  if (!topic.startsWith(prefix)) return undefined
  const colon = topic.indexOf(':', prefix.length)
  const length = Number(topic.slice(prefix.length, colon))
  if (colon < 0 || !Number.isInteger(length) || length < 0) return undefined
  const slash = colon + 1 + length
  return topic[slash] === '/' ? topic.slice(slash + 1) : undefined
}

/**
 * The most region topics of one namespace an instance without a region joins (a peer could tell it of any
 * number): more regions than this in one mesh leave the rest to the lane's copies (missesRegionWrites).
 */
export const MAX_JOINED_REGIONS = 32

/** Gossipsub's message id of a frame (see the module comment). */
export function relayMessageId (frame: Uint8Array): Uint8Array {
  const id = updatesFrameId(frame)
  if (id !== undefined) return utf8.encode(id)
  return createHash('sha256').update(frame).digest()
}

/** The gossipsub settings meshcache needs (see the module comment); the rest are gossipsub's defaults. */
export const GOSSIPSUB_SETTINGS = {
  globalSignaturePolicy: 'StrictNoSign' as const,
  allowPublishToZeroTopicPeers: true,
  ignoreDuplicatePublishError: true,
  // the publisher sends to its D mesh peers, not to every topic peer: the point of relaying
  floodPublish: false,
  emitSelf: false,
  fallbackToFloodsub: false,
  msgIdFn: (msg: { data: Uint8Array }) => relayMessageId(msg.data),
  maxInboundDataLength: CHUNK_BYTES + 1024,
  scoreParams: { IPColocationFactorWeight: 0 },
}

/** Where relayed frames go once received. */
export interface RelayHost {
  /** A frame relayed on `topic` (a namespace's; `regional`: it came on the region's topic of it, relay.ts). */
  deliver (topic: string, from: string, frame: Uint8Array, regional: boolean): void
}

export class GossipRelay {
  readonly minPeers: number
  readonly #pubsub: GossipSub
  /** libp2p's topologies registered for a protocol (its registrar's getTopologies). */
  readonly #topologies: (protocol: string) => Topology[]
  readonly #log: Logger
  /** This node's region ('' none): with one, each namespace's writes also have the region's topic. */
  readonly #region: string
  /** A joined namespace's topic, by its region topic (ours; without a region, every one we joined: #heardOf). */
  readonly #byRegionTopic = new Map<string, string>()
  /**
   * Our region's topic's subscribers among our peers, by joined namespace (gossipsub's own map is private); by
   * namespace, as missesRegionWrites asks per neighbour per write and then builds no topic string.
   */
  readonly #subscribersOf = new Map<string, Set<string>>()
  /** Namespaces joined. */
  readonly #joined = new Set<string>()
  /** Without a region: the region topics peers joined, by namespace (joined with it: #heardOf). */
  readonly #regionsHeard = new Map<string, Set<string>>()
  published = 0
  received = 0

  constructor (pubsub: GossipSub, minPeers: number, host: RelayHost, topologies: (protocol: string) => Topology[], log: Logger, region = '') {
    this.#pubsub = pubsub
    this.minPeers = minPeers
    this.#topologies = topologies
    this.#log = log
    this.#region = region
    pubsub.addEventListener('gossipsub:message', (evt: CustomEvent<GossipsubMessage>) => {
      const { msg, propagationSource } = evt.detail
      this.received++
      // Gossipsub forwards a message to its mesh only after this listener
      // returns: delivered in a microtask, the frame leaves for the next hop
      // before the core merges it here, so each hop does not add our merge
      // (and the change listeners it runs) to everyone downstream.
      const from = propagationSource.toString()
      const namespaceTopic = this.#byRegionTopic.get(msg.topic)
      const topic = namespaceTopic ?? msg.topic
      afterThisRun(() => { host.deliver(topic, from, msg.data, namespaceTopic !== undefined) })
    })
    pubsub.addEventListener('subscription-change', (evt: CustomEvent<SubscriptionChangeData>) => {
      const peer = evt.detail.peerId.toString()
      for (const { topic, subscribe } of evt.detail.subscriptions) {
        if (region === '') { if (subscribe) this.#heardOf(topic); continue }
        const namespace = namespaceOfRegionTopic(topic)
        const subscribers = namespace === undefined ? undefined : this.#subscribersOf.get(namespace)
        // another region's topic of a namespace we joined is not ours
        if (subscribers === undefined || topic !== regionTopicOf(namespace as string, region)) continue
        if (subscribe) subscribers.add(peer)
        else subscribers.delete(peer)
      }
    })
  }

  /**
   * Whether neighbour `peer` in `namespace` hears no write on our region's topic (it does not join it: no region
   * set, or a release from before region topics; or its subscription has not come yet). False without a region.
   */
  missesRegionWrites (namespace: string, peer: string): boolean {
    if (this.#region === '') return false
    return this.#subscribersOf.get(namespace)?.has(peer) !== true
  }

  /**
   * Without a region of our own: a peer joined a region's topic of `topic`'s namespace. We join it too (once the
   * namespace is joined), so gossipsub brings us that region's writes and we pass them on in its mesh like any
   * member of it: an instance of the region whose only links into it run through us still hears them. Gossipsub
   * forwards within a topic, so a write never crosses to another region's topic through us.
   */
  #heardOf (topic: string): void {
    const namespace = namespaceOfRegionTopic(topic)
    if (namespace === undefined) return
    let topics = this.#regionsHeard.get(namespace)
    if (topics === undefined) { topics = new Set(); this.#regionsHeard.set(namespace, topics) }
    if (topics.has(topic) || topics.size >= MAX_JOINED_REGIONS) return
    topics.add(topic)
    if (this.#joined.has(namespace)) this.#joinRegion(topic, namespace)
  }

  #joinRegion (topic: string, namespace: string): void {
    this.#byRegionTopic.set(topic, topicOf(namespace))
    this.#pubsub.subscribe(topic)
  }

  /** `peer` has no connection left: its subscriptions go (it tells them again when it is back). */
  peerGone (peer: string): void {
    for (const subscribers of this.#subscribersOf.values()) subscribers.delete(peer)
  }

  /**
   * A connection to a peer closed while `left` stays (crossed dials, crossed-dials.ts). Gossipsub opens its
   * stream to a peer once, on a connection libp2p told it of, and opens no other when that one closes: the
   * pair would stay peers without a stream, in each other's mesh, and nothing relayed would cross (seen on a
   * far link). Told of the connection left, as libp2p tells it of a new one, it opens its stream there if it
   * has none (gossipsub.onPeerConnected); the peer does the same on its side, or answers the new stream with
   * its own.
   */
  connectionLeft (left: Connection): void {
    const protocol = this.#pubsub.protocols[0]
    if (protocol === undefined || left.status !== 'open') return
    for (const topology of this.#topologies(protocol)) topology.onConnect?.(left.remotePeer, left)
  }

  /**
   * Subscribes to the namespace's topic and, with a region, to the region's topic of it: also when this node
   * writes on the namespace's topic (no region links: a full mesh, or no `maxPeers`), so it hears the writes of
   * its region's instances that do.
   */
  join (namespace: string): void {
    this.#pubsub.subscribe(topicOf(namespace))
    this.#joined.add(namespace)
    if (this.#region === '') {
      for (const topic of this.#regionsHeard.get(namespace) ?? []) this.#joinRegion(topic, namespace)
      return
    }
    const regional = regionTopicOf(namespace, this.#region)
    this.#byRegionTopic.set(regional, topicOf(namespace))
    // peers that told their subscriptions before we joined: gossipsub kept them
    this.#subscribersOf.set(namespace, new Set(this.#pubsub.getSubscribers(regional).map(String)))
    this.#pubsub.subscribe(regional)
  }

  leave (namespace: string): void {
    this.#pubsub.unsubscribe(topicOf(namespace))
    this.#joined.delete(namespace)
    if (this.#region === '') {
      for (const topic of this.#regionsHeard.get(namespace) ?? []) {
        this.#byRegionTopic.delete(topic)
        this.#pubsub.unsubscribe(topic)
      }
      return
    }
    const regional = regionTopicOf(namespace, this.#region)
    this.#byRegionTopic.delete(regional)
    this.#subscribersOf.delete(namespace)
    this.#pubsub.unsubscribe(regional)
  }

  /**
   * Publishes `frame` when the relay should carry it: at least `minPeers`
   * peers in the namespace and small enough for one gossipsub message;
   * on the region's topic when `regional` (a write the fast lane carries
   * across, fast-lane.ts) and this node has a region, else on the
   * namespace's. Returns false when the caller should send directly.
   */
  publish (namespace: string, frame: Uint8Array, peers: number, regional = false): boolean {
    if (peers < this.minPeers || frame.length > CHUNK_BYTES) return false
    this.published++
    const topic = regional && this.#region !== '' ? regionTopicOf(namespace, this.#region) : topicOf(namespace)
    this.#pubsub.publish(topic, frame).catch((err: Error) => {
      // lost like any frame: the core's anti-entropy repairs it
      this.#log('gossipsub publish in %s failed: %s', namespace, err.message)
    })
    return true
  }
}
