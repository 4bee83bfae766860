// mla.cpp public API: load a DeepSeek-V2/V3 (MLA) GGUF, make a session, decode, sample.
//
//   #include "mla/mla.h"
//
//   mla::EngineOptions eo;
//   eo.model_path = "models/ds3-demo.Q4_K_M.gguf";
//   eo.n_threads = 4;                                    // 0 = one per hardware thread
//   auto engine = mla::Engine::Load(eo);                 // Result<unique_ptr<Engine>>
//   if (!engine.ok()) { puts(engine.status().message().c_str()); return 1; }
//
//   mla::SessionOptions so;                              // n_ctx, n_batch, cache_type (f16)
//   auto session = (*engine)->NewSession(so);            // cache + scratch allocated here, once
//
//   const mla::Tokenizer& tok = (*engine)->tokenizer();
//   auto ids = tok.Encode("The license", /*add_special=*/true, /*parse_special=*/false);
//   mla::Sampler sampler(mla::SamplingParams{}, int32_t((*session)->n_vocab()));
//
//   (*session)->Decode(*ids);                            // prefill in batches of n_batch
//   for (int i = 0; i < 32; ++i) {
//     int32_t next = sampler.Sample((*session)->logits());
//     sampler.Accept(next);
//     if (tok.IsEndOfGeneration(next)) break;
//     fputs(tok.TokenToPiece(next, false).c_str(), stdout);
//     (*session)->Decode(&next, 1);                      // decode one token
//   }
//   (*session)->Truncate(n);                             // drop a suffix (retry, multi-turn)
//
// Or let mla::Generate (runtime/generate.h) run the loop. Every fallible call returns a
// mla::Status / mla::Result whose message names what was expected and what was found; nothing
// throws. A session is one sequence and must be used from one thread at a time; the engine's
// model and tokenizer are immutable and may be shared.
//
// Chat: mla::DetectChatFormat(tok.chat_template()) and mla::RenderChat(...) give the prompt text
// of a conversation; encode it with add_special = false, parse_special = true.
#pragma once

#include "base/status.h"                 // Status, Result<T>
#include "model/config.h"                // ModelConfig, KvOverride, ParseKvOverride
#include "model/latent_cache.h"          // ParseCacheType
#include "runtime/engine.h"              // Engine, EngineOptions
#include "runtime/generate.h"            // Generate, GenerateOptions, GenerateStats
#include "runtime/session.h"             // Session, SessionOptions
#include "sampling/sampler.h"            // Sampler, SamplingParams
#include "tokenizer/chat.h"              // ChatMessage, ChatFormat, RenderChat, DetectChatFormat
#include "tokenizer/tokenizer.h"         // Tokenizer, StreamDecoder
